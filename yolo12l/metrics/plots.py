"""PNG plots of evaluation results: PR curves, the normalised confusion matrix, P / R / F1 against confidence.

Drawn with matplotlib's object API (``Figure``, no pyplot): no global state, any backend. Each function returns the
written path; :func:`figure_to_array` gives the (H, W, 3) uint8 image for TensorBoard.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yolo12l.metrics.ap import voc_ap
from yolo12l.metrics.confusion import normalize_columns
from yolo12l.metrics.pr_curve import PRCurve

Names = Mapping[int, str] | Sequence[str] | None


def class_name(names: Names, label: int) -> str:
    if isinstance(names, Mapping):
        return str(names.get(label, label))
    if names is not None and 0 <= label < len(names):
        return str(names[label])
    return str(label)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Writes a matplotlib figure to ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def figure_to_array(path: str | Path) -> np.ndarray:
    """A saved PNG as an (H, W, 3) uint8 array (for ``SummaryWriter.add_image(..., dataformats="HWC")``)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return img[..., ::-1].copy()


def plot_pr_curves(curves: Mapping[int, PRCurve], path: str | Path, names: Names = None, title: str | None = None,
                   max_legend: int = 20) -> Path:
    """Precision-vs-recall curves (one line per class with ground truth, legend with VOC AP)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6), dpi=100)
    ax = fig.subplots()
    shown = [c for c in curves.values() if c.num_gt > 0]
    aps = []
    for i, curve in enumerate(shown):
        ap = voc_ap(curve.recall, curve.precision)
        aps.append(ap)
        label = f"{class_name(names, curve.label)} {ap:.3f}" if i < max_legend else None
        ax.plot(np.r_[0.0, curve.recall], np.r_[1.0, curve.precision], linewidth=1, label=label)
    ax.set_title(title or (f"PR curves (IoU 0.5), mAP {np.mean(aps):.3f} over {len(aps)} classes" if aps
                           else "PR curves"))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    if shown:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, path: str | Path, names: Names = None, normalize: bool = True,
                          title: str | None = None) -> Path:
    """Heat map of an (nc + 1, nc + 1) confusion matrix (rows predicted, columns true, last = background);
    ``normalize`` divides each column by its sum. Classes that never occur (empty row and column) are left out
    when there are more than 30 classes, so COCO-sized matrices stay readable."""
    from matplotlib.figure import Figure

    nc = matrix.shape[0] - 1
    labels = [class_name(names, i) for i in range(nc)] + ["background"]
    keep = np.arange(nc + 1)
    if nc > 30:
        used = (matrix.sum(0) + matrix.sum(1)) > 0
        used[nc] = True
        keep = np.nonzero(used)[0]
    shown = normalize_columns(matrix) if normalize else matrix.astype(np.float64)
    shown = shown[np.ix_(keep, keep)]
    n = len(keep)
    size = min(max(6.0, 0.3 * n + 3), 20.0)
    fig = Figure(figsize=(size, size * 0.85), dpi=100)
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ticks = [labels[k] for k in keep]
    ax.set_xticks(range(n), ticks, rotation=90, fontsize=max(4, 9 - n // 15))
    ax.set_yticks(range(n), ticks, fontsize=max(4, 9 - n // 15))
    if n <= 30:
        for r in range(n):
            for c in range(n):
                v = shown[r, c]
                if v > 0:
                    ax.text(c, r, f"{v:.2f}" if normalize else str(int(v)), ha="center", va="center",
                            fontsize=7, color="white" if v > 0.5 * shown.max() else "black")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title or ("confusion matrix, normalised per true class" if normalize else "confusion matrix"))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confidence_curve(curves: Mapping[str, np.ndarray], which: str, path: str | Path, names: Names = None,
                          max_legend: int = 20) -> Path:
    """``which`` (``precision``, ``recall`` or ``f1``) of each class against the confidence threshold, from
    :func:`yolo12l.metrics.pr_curve.confidence_curves`, with the class mean as a thick line."""
    from matplotlib.figure import Figure

    conf, values, labels = curves["conf"], curves[which], curves["labels"]
    fig = Figure(figsize=(8, 6), dpi=100)
    ax = fig.subplots()
    for k, label in enumerate(labels):
        ax.plot(conf, values[k], linewidth=1, label=class_name(names, int(label)) if k < max_legend else None)
    if len(labels):
        mean = values.mean(0)
        best = int(mean.argmax()) if which == "f1" else None
        tag = (f"all classes {mean[best]:.2f} at {conf[best]:.3f}" if best is not None
               else f"all classes (at 0.25: {np.interp(0.25, conf, mean):.2f})")
        ax.plot(conf, mean, linewidth=3, color="blue", label=tag)
        ax.legend(fontsize=7, loc="lower left" if which != "recall" else "upper right")
    nice = {"precision": "Precision", "recall": "Recall", "f1": "F1"}[which]
    ax.set_xlabel("confidence")
    ax.set_ylabel(nice)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(f"{nice}-confidence curve (IoU 0.5)")
    fig.tight_layout()
    return save_figure(fig, path)
