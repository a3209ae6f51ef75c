"""Greedy non-maximum suppression in pure torch, and YOLO post-processing built on it.

Greedy NMS: visit boxes by decreasing score; keep a box unless an already *kept* box overlaps it with
IoU > ``iou_threshold``. Same contract as ``torchvision.ops.nms`` (which is not used here).

Vectorised as a blocked greedy pass over the score-sorted boxes:

1. take the next ``block_size`` surviving boxes; resolve greedy NMS *inside* the block with the boolean
   "i suppresses j" matrix ``S = triu(IoU > t, 1)`` (see :func:`_greedy_keep`);
2. drop every later box that overlaps a box kept in this block (one ``kept x rest`` IoU matrix);
3. repeat on what is left.

Memory is ``O(block_size x N)``, and dense clusters shrink the candidate pool after the first blocks, so the
IoU work is close to ``kept x N`` rather than ``N x N``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from yolo12l.ops.boxes import box_area, xywh2xyxy

__all__ = ["nms", "batched_nms", "postprocess"]

_BLOCK_SIZE = 256
_PER_GROUP_MIN_PAIRS = 300_000  # batched_nms splits by group when boxes^2 > this * groups (CPU timings)


def _iou_above(a: Tensor, b: Tensor, threshold: float) -> Tensor:
    """(K, 4), (R, 4) xyxy -> (K, R) bool ``IoU > threshold``; same arithmetic as :func:`box_iou`, fewer temporaries.

    Two zero-area boxes give 0/0 = NaN, which is never above the threshold.
    """
    ax1, ay1, ax2, ay2 = (c[:, None] for c in a.unbind(1))
    bx1, by1, bx2, by2 = b.unbind(1)
    iw = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    ih = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    inter = iw.mul_(ih)
    union = (box_area(a)[:, None] + box_area(b)[None, :]).sub_(inter)
    return torch.gt(inter.div_(union), threshold)


def _greedy_keep(suppress: Tensor) -> Tensor:
    """Greedy NMS on a score-sorted block: (n, n) bool ``suppress[i, j]`` (only ``i < j`` set) -> (n,) bool keep.

    ``keep[j] = not any(keep[i] and suppress[i, j] for i < j)`` has exactly one solution (the greedy one), found by
    fixed-point iteration from all-True: ``keep[j]`` only depends on earlier entries, so after ``t`` rounds the first
    ``t`` entries are final. It terminates in at most ``n + 1`` rounds, usually a handful (the length of the
    longest suppression chain). Each round is one (n,) x (n, n) product; float counts <= n are exact.
    """
    n = suppress.shape[0]
    s = suppress.to(torch.float32)
    keep = torch.ones(n, dtype=torch.bool, device=suppress.device)
    for _ in range(n + 1):
        new = (keep.to(torch.float32) @ s) == 0
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, *, block_size: int | None = None) -> Tensor:
    """Greedy NMS. (N, 4) xyxy boxes, (N,) scores -> (K,) int64 indices of kept boxes, by decreasing score.

    Boxes overlapping a higher-scored kept box with IoU > ``iou_threshold`` are removed. Equal scores keep their
    input order (stable sort). Half-precision boxes are compared in float32. ``block_size`` (default 256) only
    changes speed and memory, never the result.
    """
    block_size = _BLOCK_SIZE if block_size is None else block_size
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (N, 4), got {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must be (N,) with N={boxes.shape[0]}, got {tuple(scores.shape)}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if boxes.dtype in (torch.float16, torch.bfloat16):
        boxes = boxes.float()
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    remaining = torch.arange(n, device=boxes.device)  # positions in the sorted order still alive
    kept_parts: list[Tensor] = []
    while remaining.numel():
        block, rest = remaining[:block_size], remaining[block_size:]
        bb = b[block]
        suppress = _iou_above(bb, bb, iou_threshold).triu_(1)
        kept = block[_greedy_keep(suppress)]
        kept_parts.append(kept)
        if rest.numel():
            overlapped = _iou_above(b[kept], b[rest], iou_threshold).any(0)
            rest = rest[~overlapped]
        remaining = rest
    return order[torch.cat(kept_parts)]


def batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    iou_threshold: float,
    *,
    max_wh: float | None = None,
) -> Tensor:
    """Class-aware NMS: boxes only suppress boxes with the same ``idxs`` value. Returns (K,) kept indices.

    Defined (as in Ultralytics / torchvision) by shifting each box by ``idxs * offset`` along both axes so that
    boxes of different groups can never overlap, then one greedy :func:`nms`. ``offset = max_wh`` when given
    (Ultralytics uses 7680: valid for coordinates within [0, 7680)), else the boxes' coordinate span + 1 (always
    valid). The shift costs float precision: in float32 with offsets ~6e5, coordinates resolve to ~1/16 px; it is
    kept so that IoUs are computed exactly as the reference does. For many boxes the shifted boxes are run through
    :func:`nms` group by group, which keeps the same boxes (cross-group IoU is 0) without the cross-group work.
    """
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must have the shape of scores {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if boxes.dtype in (torch.float16, torch.bfloat16):
        boxes = boxes.float()
    if max_wh is None:
        offset = boxes.max() - boxes.min() + 1
    else:
        offset = torch.as_tensor(float(max_wh), dtype=boxes.dtype, device=boxes.device)
    shifted = boxes + (idxs.to(boxes.dtype) * offset)[:, None]
    n = boxes.shape[0]
    by_group = torch.sort(idxs, stable=True).indices
    counts = torch.unique_consecutive(idxs[by_group], return_counts=True)[1].tolist()
    # One nms() over all shifted boxes gives the result (cross-group IoU is exactly 0). Running it per group
    # gives the same kept set while skipping the cross-group IoU work (~99% of the pairs with 80 classes), but
    # costs a fixed overhead per group: worth it only for many boxes.
    if len(counts) == 1 or n * n < _PER_GROUP_MIN_PAIRS * len(counts):
        return nms(shifted, scores, iou_threshold)
    kept = [seg[nms(shifted[seg], scores[seg], iou_threshold)] for seg in torch.split(by_group, counts)]
    keep = torch.cat(kept).sort().values  # input order, so that the stable sort below breaks ties like nms()
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


def postprocess(
    y: Tensor | Sequence[Tensor],
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    max_nms: int = 30000,
    max_wh: float = 7680,
) -> list[Tensor]:
    """Detections from the network's eval output, per image.

    Args:
        y: (B, 4 + nc, A) with rows ``cx, cy, w, h`` in input pixels followed by ``nc`` class probabilities
            (already sigmoid). A tuple/list (eval output ``(y, feats)``) uses its first element.
        conf: keep boxes whose best class probability is ``> conf``.
        iou: NMS IoU threshold (a box is removed when IoU with a kept box is ``> iou``).
        max_det: at most this many detections per image after NMS.
        classes: keep only these class indices (after the confidence filter).
        agnostic: class-agnostic NMS (boxes of different classes suppress each other).
        max_nms: at most this many highest-scored candidates enter NMS.
        max_wh: class-aware NMS shifts boxes by ``class * max_wh`` pixels so that different classes never
            overlap; must exceed the input image size.

    Returns:
        list of B tensors (N, 6): ``x1, y1, x2, y2, score, class`` (class as float), by decreasing score,
        in ``y``'s dtype and device. Each box gets its single best class (no multi-label).
    """
    if isinstance(y, (list, tuple)):
        y = y[0]
    if y.ndim != 3 or y.shape[1] < 5:
        raise ValueError(f"y must be (B, 4 + nc, A) with nc >= 1, got {tuple(y.shape)}")
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must be in [0, 1], got {conf}")
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"iou must be in [0, 1], got {iou}")
    if max_det < 0 or max_nms < 0:
        raise ValueError(f"max_det and max_nms must be >= 0, got {max_det}, {max_nms}")
    nc = y.shape[1] - 4
    class_filter = None
    if classes is not None:
        classes = [int(c) for c in classes]
        bad = [c for c in classes if not 0 <= c < nc]
        if bad:
            raise ValueError(f"classes {bad} out of range for nc={nc}")
        class_filter = torch.tensor(classes, device=y.device)

    scores, labels = y[:, 4:].max(1)  # (B, A); reducing over the class dim of (B, nc, A) is the fast layout
    out: list[Tensor] = []
    for i in range(y.shape[0]):
        sel = scores[i] > conf
        if class_filter is not None:
            sel &= torch.isin(labels[i], class_filter)
        idx = sel.nonzero().squeeze(1)
        box = xywh2xyxy(y[i, :4, idx].T)
        det = torch.cat((box, scores[i, idx, None], labels[i, idx, None].to(y.dtype)), 1)
        if det.shape[0] > max_nms:
            det = det[torch.sort(det[:, 4], descending=True, stable=True).indices[:max_nms]]
        if det.shape[0] == 0:
            out.append(det)
            continue
        if agnostic:
            keep = nms(det[:, :4], det[:, 4], iou)
        else:
            keep = batched_nms(det[:, :4], det[:, 4], det[:, 5], iou, max_wh=max_wh)
        out.append(det[keep[:max_det]])
    return out
