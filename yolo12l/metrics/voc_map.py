"""Pascal VOC mAP@0.5 (VOC2010+ all-point AP, or the VOC2007 11-point AP) as a torchmetrics ``Metric``.

Same ``update(preds, targets)`` format, DDP gathering and de-duplication as
:class:`~yolo12l.metrics.coco_map.COCOMeanAveragePrecision`; targets' ``iscrowd`` plays VOC's "difficult" flag.
Matching follows the VOC devkit (see :mod:`yolo12l.metrics.pr_curve`) with continuous pixel coordinates (no "+1").
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from yolo12l.metrics.ap import AP_METHODS, voc_ap
from yolo12l.metrics.detection_state import DetectionMetric
from yolo12l.metrics.pr_curve import pr_curves

__all__ = ["VOCMeanAveragePrecision", "voc_ap"]


class VOCMeanAveragePrecision(DetectionMetric):
    """VOC mAP at one IoU threshold (default 0.5).

    ``compute()`` returns ``mAP50`` (mean over classes with ground truth; ``-1`` if none has), ``per_class_ap50``
    (C,) with ``-1`` for classes without (non-difficult) ground truth, ``num_images`` and ``num_duplicates``.
    The key names say 50 whatever ``iou_threshold`` is. ``ap_method``: ``"all_point"`` (VOC2010+, default) or
    ``"11_point"`` (the VOC2007 test protocol), see :func:`yolo12l.metrics.ap.voc_ap`.
    """

    def __init__(self, num_classes: int | None = None, iou_threshold: float = 0.5, ap_method: str = "all_point",
                 **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, **kwargs)
        if not 0.0 <= iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}")
        if ap_method not in AP_METHODS:
            raise ValueError(f"ap_method must be one of {AP_METHODS}, got {ap_method!r}")
        self.iou_threshold = iou_threshold
        self.ap_method = ap_method

    def compute(self) -> dict[str, Tensor]:
        data = self.data()
        curves = pr_curves(data, self.iou_threshold, self.num_classes)
        size = self.num_classes if self.num_classes is not None else (max(curves) + 1 if curves else 0)
        per_class = torch.full((size,), -1.0, dtype=torch.float64)
        for label, curve in curves.items():
            if curve.num_gt > 0:
                per_class[label] = voc_ap(curve.recall, curve.precision, self.ap_method)
        valid = per_class[per_class > -1]
        return {
            "mAP50": valid.mean() if len(valid) else torch.tensor(-1.0, dtype=torch.float64),
            "per_class_ap50": per_class,
            "num_images": torch.tensor(data.num_images),
            "num_duplicates": torch.tensor(data.num_duplicates),
        }
