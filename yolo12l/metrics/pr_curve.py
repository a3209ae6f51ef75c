"""Per-class precision / recall curves at one IoU threshold (Pascal VOC matching); plots are in ``plots.py``.

Matching (Pascal VOC devkit rule): detections of a class are visited by decreasing score (ties: stable); each
detection's candidate is the ground-truth box of its class in its image with the highest IoU. If that IoU is
``> iou_threshold``: a crowd / difficult candidate makes the detection *ignored* (neither TP nor FP); otherwise the
first detection to claim the candidate is a TP and later ones are FPs. Below the threshold: FP. Since the candidate
does not depend on earlier matches, this is computed without a per-detection loop.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yolo12l.metrics.detection_state import DetectionData


@dataclass
class PRCurve:
    """Cumulative precision / recall after each (non-ignored) detection of one class, by decreasing score."""

    label: int
    precision: np.ndarray  # (D,)
    recall: np.ndarray  # (D,); all NaN when num_gt == 0
    scores: np.ndarray  # (D,) detection scores, decreasing
    num_gt: int  # non-crowd ground-truth boxes


def per_image(data: DetectionData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each image in turn: (indices of its detections, indices of its ground-truth boxes), each in their
    original order. One sort for the whole dataset, not a scan of every array per image."""
    det_by_image = np.argsort(data.det_image, kind="stable")
    gt_by_image = np.argsort(data.gt_image, kind="stable")
    det_bounds = np.searchsorted(data.det_image[det_by_image], np.arange(data.num_images + 1))
    gt_bounds = np.searchsorted(data.gt_image[gt_by_image], np.arange(data.num_images + 1))
    for i in range(data.num_images):
        yield det_by_image[det_bounds[i] : det_bounds[i + 1]], gt_by_image[gt_bounds[i] : gt_bounds[i + 1]]


def match_detections(data: DetectionData, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per detection of ``data``: (tp (N,) bool, ignored (N,) bool) under the VOC rule in the module docstring."""
    n = len(data.det_scores)
    best_iou = np.zeros(n)
    best_gt = np.full(n, -1)
    for d, g in per_image(data):
        if len(d) == 0 or len(g) == 0:
            continue
        iou = box_iou_numpy(data.det_boxes[d], data.gt_boxes[g])
        iou[data.det_labels[d][:, None] != data.gt_labels[g][None, :]] = -1.0
        j = iou.argmax(1)
        best_iou[d] = iou[np.arange(len(d)), j]
        best_gt[d] = g[j]
    hit = best_iou > iou_threshold
    ignored = hit & data.gt_iscrowd[best_gt.clip(min=0)]
    claim = hit & ~ignored
    # first claim of each ground-truth box in score order is the TP
    order = np.argsort(-data.det_scores, kind="stable")
    tp = np.zeros(n, dtype=bool)
    claimed = order[claim[order]]
    _, first = np.unique(best_gt[claimed], return_index=True)
    tp[claimed[first]] = True
    return tp, ignored


def pr_curves(
    data: DetectionData | tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]],
    iou_threshold: float = 0.5,
    num_classes: int | None = None,
) -> dict[int, PRCurve]:
    """Per-class PR curves: label -> :class:`PRCurve`. ``data`` is :class:`DetectionData` or ``(preds, targets)``
    lists in the metrics' ``update`` format."""
    if not isinstance(data, DetectionData):
        data = DetectionData.from_lists(*data)
    tp, ignored = match_detections(data, iou_threshold)
    curves = {}
    for c in data.labels(num_classes):
        sel = np.nonzero((data.det_labels == c) & ~ignored)[0]
        sel = sel[np.argsort(-data.det_scores[sel], kind="stable")]
        num_gt = int(((data.gt_labels == c) & ~data.gt_iscrowd).sum())
        tps = np.cumsum(tp[sel])
        precision = tps / np.arange(1, len(sel) + 1)
        recall = tps / num_gt if num_gt else np.full(len(sel), np.nan)
        curves[c] = PRCurve(c, precision, recall, data.det_scores[sel], num_gt)
    return curves


def confidence_curves(curves: Mapping[int, PRCurve], grid: int = 1000) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of each class with ground truth as functions of the confidence threshold.

    Returns ``conf`` (G,) = linspace(0, 1), ``labels`` (K,), ``precision`` / ``recall`` / ``f1`` (K, G): the values
    when only detections with score >= conf are kept (precision 1 above a class's highest score, recall 0).
    """
    conf = np.linspace(0, 1, grid)
    shown = [c for c in curves.values() if c.num_gt > 0]
    p = np.ones((len(shown), grid))
    r = np.zeros((len(shown), grid))
    for k, c in enumerate(shown):
        # scores decrease along the curve: the detections kept at threshold t are its first n(t) entries
        n = np.searchsorted(-c.scores, -conf, side="right")
        kept = n > 0
        p[k, kept] = c.precision[n[kept] - 1]
        r[k, kept] = c.recall[n[kept] - 1]
    f1 = 2 * p * r / np.maximum(p + r, 1e-16)
    return {"conf": conf, "labels": np.array([c.label for c in shown], dtype=np.int64), "precision": p,
            "recall": r, "f1": f1}


def box_iou_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes a (N, 4) and b (M, 4), float64; 0 where the union is empty."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:4] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:4] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
