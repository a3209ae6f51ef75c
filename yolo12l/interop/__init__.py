"""Interoperability with files written by other implementations (Ultralytics / YOLOv12 paper checkpoints)."""
from .safe_unpickle import StandIn, UnsafeCheckpointError, safe_load
from .ultralytics_checkpoint import UltralyticsCheckpoint, read_ultralytics_checkpoint

__all__ = ["StandIn", "UnsafeCheckpointError", "UltralyticsCheckpoint", "read_ultralytics_checkpoint", "safe_load"]
