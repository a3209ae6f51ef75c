"""Detection loss (YOLOv8/YOLO12 anchor-free head) and its building blocks."""
from ..ops.anchors import bbox2dist, dist2bbox, make_anchors
from .dfl import dfl_decode
from .assigner import AssignResult, TaskAlignedAssigner
from .detection_loss import BboxLoss, DetectionLoss, distribution_focal_loss
from .iou import bbox_iou
from .targets import pad_targets

__all__ = [
    "AssignResult",
    "BboxLoss",
    "DetectionLoss",
    "TaskAlignedAssigner",
    "bbox2dist",
    "bbox_iou",
    "dfl_decode",
    "dist2bbox",
    "distribution_focal_loss",
    "make_anchors",
    "pad_targets",
]
