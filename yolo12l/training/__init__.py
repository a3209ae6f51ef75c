"""Lightning training: the detector module, EMA, optimiser recipe, checkpoint IO, prediction writer."""
from .checkpoint_io import AtomicCheckpointIO
from .ema import ModelEMA
from .module import YOLODetector
from .prediction_writer import DetectionWriter
from .progress import YOLOProgressBar

__all__ = ["AtomicCheckpointIO", "DetectionWriter", "ModelEMA", "YOLODetector", "YOLOProgressBar"]
