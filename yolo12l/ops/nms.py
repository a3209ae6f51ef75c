"""Greedy non-maximum suppression in pure torch, and YOLO post-processing built on it.

Greedy NMS: visit boxes by decreasing score; keep a box unless an already *kept* box overlaps it with
IoU > ``iou_threshold``. Same contract as ``torchvision.ops.nms`` (which is not used here).

Vectorised as a blocked greedy pass over the boxes in processing order (see :func:`_nms_ordered`):

1. take the next ``block_size`` surviving boxes; resolve greedy NMS *inside* the block with the boolean
   "i suppresses j" matrix ``S = triu(IoU > t, 1)`` (see :func:`_greedy_keep`);
2. drop every later box that overlaps a box kept in this block (one ``kept x later`` IoU matrix);
3. repeat on what is left.

Memory is ``O(block_size x N)``; dense clusters shrink the candidate pool after the first blocks. For class-aware
NMS the boxes are processed class by class (each class by decreasing score), which is the same greedy result
since classes never interact, and step 2 only looks at later boxes of the block's own classes.

When only the first ``max_keep`` kept boxes are wanted (``postprocess``: ``max_det``), :func:`_nms_first_kept`
walks the boxes in blocks by decreasing score instead and stops once ``max_keep`` are kept: each block is
checked against the boxes kept so far (one ``kept x block`` IoU matrix) and resolved inside as above. The
first ``max_keep`` entries of greedy NMS only depend on boxes scored at least as high as the last of them, so the
result is the same prefix; at conf 0.001 (validation) a few blocks of the ~8,400 candidates suffice.

``torchvision.ops.nms`` (C++) runs instead with ``backend="torchvision"``, or with ``backend="auto"`` when it is
importable and the full NMS is wanted (no ``max_keep``), on the same class-shifted boxes (exactly the reference's
call). With ``max_keep`` the early stop above beats it (it always resolves all boxes: at conf 0.001 on a
(1, 84, 8400) output 51 ms CPU against 13 ms, benchmarks/bench_inference.py), so ``auto`` keeps pure torch there.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from yolo12l.ops.boxes import box_area, xywh2xyxy

__all__ = ["nms", "batched_nms", "postprocess", "torchvision_nms"]

_BLOCK_SIZE = 256
_BACKENDS = ("auto", "torch", "torchvision")
_TV_NMS: object = None  # torchvision.ops.nms, False when torchvision is not importable, None before the first look


def torchvision_nms():
    """``torchvision.ops.nms`` when torchvision is importable (looked up once), else None."""
    global _TV_NMS
    if _TV_NMS is None:
        try:
            from torchvision.ops import nms as tv_nms
        except Exception:  # not installed, or built for another torch
            tv_nms = False
        _TV_NMS = tv_nms
    return _TV_NMS or None


def _use_torchvision(backend: str, max_keep: int | None = None) -> bool:
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if backend == "torch" or (backend == "auto" and max_keep is not None):
        return False
    available = torchvision_nms() is not None
    if backend == "torchvision" and not available:
        raise RuntimeError("backend='torchvision' but torchvision is not importable")
    return available


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


class _one_cpu_thread:
    """Runs a block with one intra-op thread on CPU: the NMS loop issues many small ops, for which threads only
    add synchronisation (measured: 8 ms with one thread, 330 ms CPU with two on a loaded 2-core machine)."""

    def __init__(self, device: torch.device):
        self.active = device.type == "cpu" and torch.get_num_threads() > 1

    def __enter__(self) -> None:
        if self.active:
            self.threads = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            torch.set_num_threads(self.threads)


def _nms_first_kept(boxes: Tensor, iou_threshold: float, block_size: int, max_keep: int) -> Tensor:
    """The first ``max_keep`` positions greedy NMS keeps over (N, 4) boxes already sorted by decreasing score ->
    (K,) ascending, K <= max_keep; stops as soon as ``max_keep`` boxes are kept.

    The next boxes are taken ``block_size`` at a time and compared with all boxes kept so far (one ``kept x chunk``
    IoU matrix; every box of a dense cluster dies here once the cluster's best box is kept) until ``block_size``
    survivors are gathered; greedy NMS among those survivors resolves them (:func:`_greedy_keep`). Every box is
    thus compared with every kept box scored above it and with the survivors next to it, as greedy NMS needs.
    """
    n = boxes.shape[0]
    kept_parts: list[Tensor] = []
    kept_boxes = boxes[:0]
    start = 0
    while start < n and kept_boxes.shape[0] < max_keep:
        gathered: list[Tensor] = []
        count = 0
        while start < n and count < block_size:
            chunk = torch.arange(start, min(start + block_size, n), device=boxes.device)
            start += block_size
            if kept_boxes.shape[0]:
                chunk = chunk[~_iou_above(kept_boxes, boxes[chunk], iou_threshold).any(0)]
            gathered.append(chunk)
            count += chunk.shape[0]
        block = torch.cat(gathered) if len(gathered) > 1 else gathered[0]
        if not block.shape[0]:
            continue
        bb = boxes[block]
        kept = block[_greedy_keep(_iou_above(bb, bb, iou_threshold).triu_(1))]
        kept_parts.append(kept)
        kept_boxes = torch.cat((kept_boxes, boxes[kept]))
    if not kept_parts:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    return torch.cat(kept_parts)[:max_keep]


def _nms_ordered(boxes: Tensor, iou_threshold: float, block_size: int, limit: Tensor | None = None) -> Tensor:
    """Greedy NMS over (N, 4) boxes already in processing order -> (K,) kept positions, ascending.

    ``limit`` (N,) non-decreasing: box ``i`` can only overlap boxes at positions ``< limit[i]`` (the end of its
    class), so later boxes are not compared with it. None: every later box is compared.
    """
    remaining = torch.arange(boxes.shape[0], device=boxes.device)  # positions still alive
    kept_parts: list[Tensor] = []
    while remaining.numel():
        block, rest = remaining[:block_size], remaining[block_size:]
        bb = boxes[block]
        kept = block[_greedy_keep(_iou_above(bb, bb, iou_threshold).triu_(1))]
        kept_parts.append(kept)
        if rest.numel():
            if limit is None:
                near, far = rest, rest[:0]
            else:
                split = int(torch.searchsorted(rest, limit[block[-1]]))
                near, far = rest[:split], rest[split:]
            if near.numel():
                near = near[~_iou_above(boxes[kept], boxes[near], iou_threshold).any(0)]
            rest = torch.cat((near, far))
        remaining = rest
    return torch.cat(kept_parts)


def _check_nms_inputs(boxes: Tensor, scores: Tensor, block_size: int) -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (N, 4), got {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must be (N,) with N={boxes.shape[0]}, got {tuple(scores.shape)}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, *, block_size: int | None = None,
        max_keep: int | None = None, backend: str = "torch") -> Tensor:
    """Greedy NMS. (N, 4) xyxy boxes, (N,) scores -> (K,) int64 indices of kept boxes, by decreasing score.

    Boxes overlapping a higher-scored kept box with IoU > ``iou_threshold`` are removed. Equal scores keep their
    input order (stable sort). Half-precision boxes are compared in float32. ``block_size`` (default 256) only
    changes speed and memory, never the result. ``max_keep``: return only the first ``max_keep`` kept boxes
    (the same prefix as without it; faster). ``backend``: ``torch`` (default), ``torchvision``
    (``torchvision.ops.nms``; ties in score may be ordered differently) or ``auto`` (torchvision when importable
    and ``max_keep`` is None).
    """
    block_size = _BLOCK_SIZE if block_size is None else block_size
    _check_nms_inputs(boxes, scores, block_size)
    if max_keep is not None and max_keep < 0:
        raise ValueError(f"max_keep must be >= 0, got {max_keep}")
    if boxes.shape[0] == 0 or max_keep == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if boxes.dtype in (torch.float16, torch.bfloat16):
        boxes = boxes.float()
    if _use_torchvision(backend, max_keep):
        keep = torchvision_nms()(boxes, scores.to(boxes.dtype), float(iou_threshold))
        return keep if max_keep is None else keep[:max_keep]
    order = torch.sort(scores, descending=True, stable=True).indices
    with _one_cpu_thread(boxes.device):
        if max_keep is not None:
            return order[_nms_first_kept(boxes[order], iou_threshold, block_size, max_keep)]
        return order[_nms_ordered(boxes[order], iou_threshold, block_size)]


def batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    iou_threshold: float,
    *,
    max_wh: float | None = None,
    block_size: int | None = None,
    max_keep: int | None = None,
    backend: str = "torch",
) -> Tensor:
    """Class-aware NMS: boxes only suppress boxes with the same ``idxs`` value. Returns (K,) kept indices, by
    decreasing score (ties in input order, as :func:`nms`).

    Defined (as in Ultralytics / torchvision) as one greedy :func:`nms` over boxes shifted by ``idxs * offset``
    along both axes, so that boxes of different groups never overlap. ``offset = max_wh`` when given (Ultralytics
    uses 7680: valid for coordinates within [0, 7680)), else the boxes' coordinate span + 1 (always valid). The
    shift costs float precision (in float32 with offsets ~6e5 coordinates resolve to ~1/16 px); it is kept so that
    IoUs are computed exactly as the reference computes them. The greedy pass runs group by group, which keeps
    the same boxes without computing cross-group IoUs (~99% of the pairs with 80 classes). With ``max_keep``
    (only the first kept boxes wanted) one pass by decreasing score stops early instead; ``backend`` as
    :func:`nms` (torchvision's nms runs on the shifted boxes).
    """
    block_size = _BLOCK_SIZE if block_size is None else block_size
    _check_nms_inputs(boxes, scores, block_size)
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must have the shape of scores {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if boxes.dtype in (torch.float16, torch.bfloat16):
        boxes = boxes.float()
    if max_wh is None:
        offset = boxes.max() - boxes.min() + 1
    else:
        offset = torch.as_tensor(float(max_wh), dtype=boxes.dtype, device=boxes.device)
    shifted = boxes + (idxs.to(boxes.dtype) * offset)[:, None]
    if max_keep is not None or _use_torchvision(backend, max_keep):
        return nms(shifted, scores, iou_threshold, block_size=block_size, max_keep=max_keep, backend=backend)
    by_score = torch.sort(scores, descending=True, stable=True).indices
    order = by_score[torch.sort(idxs[by_score], stable=True).indices]  # by group, then by decreasing score
    counts = torch.unique_consecutive(idxs[order], return_counts=True)[1]
    limit = torch.repeat_interleave(counts.cumsum(0), counts)  # end position of each box's group
    with _one_cpu_thread(boxes.device):
        keep = order[_nms_ordered(shifted[order], iou_threshold, block_size, limit)]
    keep = keep.sort().values  # input order, so that the stable sort below breaks ties like nms()
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
    backend: str = "auto",
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
        backend: NMS implementation, ``auto`` (the pure-torch early stop after ``max_det``, faster than
            torchvision's full NMS), ``torch`` or ``torchvision`` (see :func:`nms`).

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

    with _one_cpu_thread(y.device):
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
                keep = nms(det[:, :4], det[:, 4], iou, max_keep=max_det, backend=backend)
            else:
                keep = batched_nms(det[:, :4], det[:, 4], det[:, 5], iou, max_wh=max_wh, max_keep=max_det,
                                   backend=backend)
            out.append(det[keep[:max_det]])
    return out
