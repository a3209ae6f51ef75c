"""Detection metrics: COCO mAP (pycocotools / faster-coco-eval), VOC mAP@0.5, PR curves."""
from yolo12l.metrics.coco_map import COCOMeanAveragePrecision, coco_evaluate
from yolo12l.metrics.detection_state import DetectionData, DetectionMetric
from yolo12l.metrics.pr_curve import PRCurve, match_detections, plot_pr_curves, pr_curves
from yolo12l.metrics.voc_map import VOCMeanAveragePrecision, voc_ap

__all__ = [
    "COCOMeanAveragePrecision",
    "VOCMeanAveragePrecision",
    "DetectionData",
    "DetectionMetric",
    "PRCurve",
    "coco_evaluate",
    "match_detections",
    "plot_pr_curves",
    "pr_curves",
    "voc_ap",
]
