"""yolo12l: YOLO12 in PyTorch Lightning."""
from .models import build_model, convert_ultralytics_state_dict

__version__ = "0.1.0"
__all__ = ["build_model", "convert_ultralytics_state_dict"]
