"""Detection confusion matrix (classes + background) from :class:`DetectionData`.

Per image, detections with score >= ``conf`` are matched class-agnostically to the non-crowd ground truth: pairs
with IoU > ``iou_threshold``, greedily by decreasing IoU, each detection and each ground-truth box used once.
A matched pair counts at ``[predicted class, true class]``, an unmatched ground-truth box at ``[background, true]``
(missed), an unmatched detection at ``[predicted, background]`` (false positive) unless it overlaps a crowd /
difficult region by more than ``iou_threshold`` (then it is not counted).
"""
from __future__ import annotations

import numpy as np

from yolo12l.metrics.detection_state import DetectionData
from yolo12l.metrics.pr_curve import box_iou_numpy, per_image


def confusion_matrix(data: DetectionData, num_classes: int, conf: float = 0.25,
                     iou_threshold: float = 0.45) -> np.ndarray:
    """(nc + 1, nc + 1) int64 counts, rows = predicted class, columns = true class; index ``nc`` = background."""
    nc = num_classes
    m = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    keep = data.det_scores >= conf
    for d, g_all in per_image(data):
        d = d[keep[d]]
        crowd = data.gt_iscrowd[g_all]
        g, gc = g_all[~crowd], g_all[crowd]
        gl, dl = data.gt_labels[g], data.det_labels[d]
        matched_d = np.zeros(len(d), dtype=bool)
        matched_g = np.zeros(len(g), dtype=bool)
        if len(d) and len(g):
            iou = box_iou_numpy(data.det_boxes[d], data.gt_boxes[g])
            di, gi = np.nonzero(iou > iou_threshold)
            order = np.argsort(-iou[di, gi], kind="stable")
            for a, b in zip(di[order], gi[order]):
                if not matched_d[a] and not matched_g[b]:
                    matched_d[a] = matched_g[b] = True
                    m[dl[a], gl[b]] += 1
        np.add.at(m[nc], gl[~matched_g], 1)
        fp = ~matched_d
        if len(gc) and fp.any():
            fp &= ~(box_iou_numpy(data.det_boxes[d], data.gt_boxes[gc]) > iou_threshold).any(1)
        np.add.at(m[:, nc], dl[fp], 1)
    return m


def normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """Each column (true class) divided by its sum: the share of that class's boxes per predicted class. The
    background column (false positives) is divided by its own sum too; empty columns stay 0."""
    total = matrix.sum(0, keepdims=True)
    return np.where(total > 0, matrix / np.maximum(total, 1), 0.0)
