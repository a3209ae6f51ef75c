"""Per-class precision / recall curves at one IoU threshold (Pascal VOC matching), and a PNG plot of them.

Matching (Pascal VOC devkit rule): detections of a class are visited by decreasing score (ties: stable); each
detection's candidate is the ground-truth box of its class in its image with the highest IoU. If that IoU is
``> iou_threshold``: a crowd / difficult candidate makes the detection *ignored* (neither TP nor FP); otherwise the
first detection to claim the candidate is a TP and later ones are FPs. Below the threshold: FP. Since the candidate
does not depend on earlier matches, this is computed without a per-detection loop.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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


def match_detections(data: DetectionData, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per detection of ``data``: (tp (N,) bool, ignored (N,) bool) under the VOC rule in the module docstring."""
    n = len(data.det_scores)
    best_iou = np.zeros(n)
    best_gt = np.full(n, -1)
    det_by_image = np.argsort(data.det_image, kind="stable")
    gt_by_image = np.argsort(data.gt_image, kind="stable")
    det_bounds = np.searchsorted(data.det_image[det_by_image], np.arange(data.num_images + 1))
    gt_bounds = np.searchsorted(data.gt_image[gt_by_image], np.arange(data.num_images + 1))
    for i in range(data.num_images):
        d = det_by_image[det_bounds[i] : det_bounds[i + 1]]
        g = gt_by_image[gt_bounds[i] : gt_bounds[i + 1]]
        if len(d) == 0 or len(g) == 0:
            continue
        iou = _iou(data.det_boxes[d], data.gt_boxes[g])
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


def plot_pr_curves(
    curves: Mapping[int, PRCurve],
    path: str | Path,
    names: Mapping[int, str] | Sequence[str] | None = None,
    title: str | None = None,
    max_legend: int = 20,
) -> Path:
    """Save precision-vs-recall curves (one line per class with ground truth, legend with VOC AP) as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global state, works with any backend

    from yolo12l.metrics.voc_map import voc_ap

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 6), dpi=100)
    ax = fig.subplots()
    shown = [c for c in curves.values() if c.num_gt > 0]
    aps = []
    for i, curve in enumerate(shown):
        ap = voc_ap(curve.recall, curve.precision)
        aps.append(ap)
        label = f"{_name(names, curve.label)} {ap:.3f}" if i < max_legend else None
        ax.plot(np.r_[0.0, curve.recall], np.r_[1.0, curve.precision], linewidth=1, label=label)
    ax.set_title(title or (f"PR curves, mAP {np.mean(aps):.3f} over {len(aps)} classes" if aps else "PR curves"))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    if shown:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _name(names: Mapping[int, str] | Sequence[str] | None, label: int) -> str:
    if isinstance(names, Mapping):
        return str(names.get(label, label))
    if names is not None and 0 <= label < len(names):
        return str(names[label])
    return str(label)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:4] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:4] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
