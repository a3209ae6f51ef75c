"""Interoperability with files written by other implementations (Ultralytics / YOLOv12 paper checkpoints), and
loading initial weights from any of them."""
from .convert import convert_ultralytics_state_dict
from .load import detect_variant, fold_pe_bias, load_ultralytics_checkpoint, network_state_dict
from .safe_unpickle import StandIn, UnsafeCheckpointError, safe_load
from .ultralytics_checkpoint import UltralyticsCheckpoint, read_ultralytics_checkpoint

__all__ = ["StandIn", "convert_ultralytics_state_dict", "UnsafeCheckpointError", "UltralyticsCheckpoint", "detect_variant", "fold_pe_bias",
           "load_ultralytics_checkpoint", "network_state_dict", "read_ultralytics_checkpoint", "safe_load"]
