"""Interoperability with files written by other implementations (Ultralytics / YOLOv12 paper checkpoints), and
the one reader of weight files (:func:`load_network`, :func:`read_network_state`)."""
from .checkpoint import load_network, read_network_state
from .convert import convert_ultralytics_state_dict
from .load import detect_variant, fold_pe_bias, load_ultralytics_checkpoint, network_state_dict
from .safe_unpickle import StandIn, UnsafeCheckpointError, safe_load
from .ultralytics_checkpoint import UltralyticsCheckpoint, read_ultralytics_checkpoint

__all__ = ["StandIn", "UltralyticsCheckpoint", "UnsafeCheckpointError", "convert_ultralytics_state_dict",
           "detect_variant", "fold_pe_bias", "load_network", "load_ultralytics_checkpoint", "network_state_dict",
           "read_network_state", "read_ultralytics_checkpoint", "safe_load"]
