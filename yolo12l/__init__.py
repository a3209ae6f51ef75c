"""yolo12l: YOLO12 in PyTorch Lightning."""
from .models import build_model, convert_ultralytics_state_dict
from .interop import load_ultralytics_checkpoint

__version__ = "0.1.0"
__all__ = ["build_model", "convert_ultralytics_state_dict", "load_ultralytics_checkpoint"]
