"""Box utilities, NMS and detection post-processing (pure torch)."""
from yolo12l.ops.anchors import bbox2dist, dist2bbox, make_anchors
from yolo12l.ops.boxes import (
    box_area,
    box_iou,
    clip_boxes,
    xywh2xyxy,
    xyxy2xywh,
)
from yolo12l.ops.nms import batched_nms, nms, postprocess

__all__ = [
    "bbox2dist",
    "dist2bbox",
    "make_anchors",
    "box_area",
    "box_iou",
    "clip_boxes",
    "xywh2xyxy",
    "xyxy2xywh",
    "nms",
    "batched_nms",
    "postprocess",
]
