"""yolo12l: YOLO12 in PyTorch Lightning."""
__version__ = "0.1.0"
