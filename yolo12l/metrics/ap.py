"""Average precision of one PR curve: Pascal VOC all-point (VOC2010+) and 11-point (VOC2007 test protocol)."""
from __future__ import annotations

import numpy as np

AP_METHODS = ("all_point", "11_point")


def voc_ap(recall: np.ndarray, precision: np.ndarray, method: str = "all_point") -> float:
    """AP of a PR curve given as (D,) cumulative ``recall`` / ``precision`` after each detection by decreasing score.

    * ``all_point`` (VOC2010+): area under the precision envelope (envelope at recall r = max precision at any
      recall >= r), summed over the recall steps.
    * ``11_point`` (VOC2007 ``devkit``): mean over r in {0, 0.1, ..., 1} of the maximum precision at recall >= r
      (0 when recall r is never reached).

    Returns 0 for an empty curve and NaN when recall is undefined (NaN: the class has no ground truth).
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.shape != precision.shape:
        raise ValueError(f"recall {recall.shape} and precision {precision.shape} must match")
    if recall.size == 0 or np.isnan(recall).any():
        return 0.0 if recall.size == 0 else float("nan")
    if method == "11_point":
        points = [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]
        return float(np.mean(points))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))
