"""yolo12l: YOLO12 in PyTorch Lightning."""
from .interop import convert_ultralytics_state_dict, load_ultralytics_checkpoint
from .models import build_model
from .ops import postprocess

__version__ = "0.1.0"
__all__ = ["build_model", "convert_ultralytics_state_dict", "load_ultralytics_checkpoint", "postprocess"]
