"""Detection metrics: COCO mAP (pycocotools / faster-coco-eval), VOC mAP@0.5, PR curves, confusion matrix.

Imports go one way: ``detection_state`` (data, metric base) <- ``pr_curve`` <- ``voc_map`` / ``confusion`` <-
``plots``; ``ap`` (AP of one curve) and ``coco_map`` depend only on ``detection_state``.
"""
from yolo12l.metrics.ap import voc_ap
from yolo12l.metrics.coco_map import COCOMeanAveragePrecision, coco_evaluate, coco_results
from yolo12l.metrics.confusion import confusion_matrix
from yolo12l.metrics.detection_state import DetectionData, DetectionMetric
from yolo12l.metrics.plots import plot_confidence_curve, plot_confusion_matrix, plot_pr_curves
from yolo12l.metrics.pr_curve import PRCurve, confidence_curves, match_detections, pr_curves
from yolo12l.metrics.voc_map import VOCMeanAveragePrecision

__all__ = [
    "COCOMeanAveragePrecision",
    "VOCMeanAveragePrecision",
    "DetectionData",
    "DetectionMetric",
    "PRCurve",
    "coco_evaluate",
    "coco_results",
    "confidence_curves",
    "confusion_matrix",
    "match_detections",
    "plot_confidence_curve",
    "plot_confusion_matrix",
    "plot_pr_curves",
    "pr_curves",
    "voc_ap",
]
