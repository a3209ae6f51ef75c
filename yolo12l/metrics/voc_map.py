"""Pascal VOC mAP@0.5 (VOC2010+ all-point interpolated AP) as a torchmetrics ``Metric``.

Same ``update(preds, targets)`` format, DDP gathering and de-duplication as
:class:`~yolo12l.metrics.coco_map.COCOMeanAveragePrecision`; targets' ``iscrowd`` plays VOC's "difficult" flag.
Matching follows the VOC devkit (see :mod:`yolo12l.metrics.pr_curve`) with continuous pixel coordinates (no "+1").
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from yolo12l.metrics.detection_state import DetectionMetric


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (VOC2010+): area under the precision envelope of the PR curve.

    ``recall``, ``precision``: (D,) cumulative values after each detection by decreasing score. The envelope at
    recall r is the maximum precision at any recall >= r; AP sums it over the recall steps.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.shape != precision.shape:
        raise ValueError(f"recall {recall.shape} and precision {precision.shape} must match")
    if recall.size == 0 or np.isnan(recall).any():
        return 0.0 if recall.size == 0 else float("nan")
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


class VOCMeanAveragePrecision(DetectionMetric):
    """VOC mAP at one IoU threshold (default 0.5).

    ``compute()`` returns ``mAP50`` (mean over classes with ground truth; ``-1`` if none has), ``per_class_ap50``
    (C,) with ``-1`` for classes without (non-difficult) ground truth, ``num_images`` and ``num_duplicates``.
    The key names say 50 whatever ``iou_threshold`` is.
    """

    def __init__(self, num_classes: int | None = None, iou_threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(num_classes=num_classes, **kwargs)
        if not 0.0 <= iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}")
        self.iou_threshold = iou_threshold

    def compute(self) -> dict[str, Tensor]:
        from yolo12l.metrics.pr_curve import pr_curves

        data = self.data()
        curves = pr_curves(data, self.iou_threshold, self.num_classes)
        size = self.num_classes if self.num_classes is not None else (max(curves) + 1 if curves else 0)
        per_class = torch.full((size,), -1.0, dtype=torch.float64)
        for label, curve in curves.items():
            if curve.num_gt > 0:
                per_class[label] = voc_ap(curve.recall, curve.precision)
        valid = per_class[per_class > -1]
        return {
            "mAP50": valid.mean() if len(valid) else torch.tensor(-1.0, dtype=torch.float64),
            "per_class_ap50": per_class,
            "num_images": torch.tensor(data.num_images),
            "num_duplicates": torch.tensor(data.num_duplicates),
        }
