"""Merging detections that several overlapping views (image slices, a full-image pass) found: greedy NMS or
greedy NMM (non-maximum merging), class-aware, matched by IoU or IoS (intersection over the smaller box).

Both visit the boxes of a class by decreasing score. A box that *matches* an earlier kept box
(``metric(kept, box) > match_thres``) is not kept: NMS drops it, NMM merges it into the highest-scored kept box it
matches (that box becomes the union of the two, its score stays the highest). This is SAHI's ``GREEDYNMM`` keep
set and assignment; SAHI additionally re-checks each merge against the box grown so far and skips a member that no
longer matches it, we merge the whole matched group into one union box (the group is decided on the original
boxes, so the result does not depend on the order members are merged in).

Vectorised like :func:`yolo12l.ops.nms.nms`: boxes are taken in blocks by decreasing score, every block is matched
against the boxes kept so far (one ``kept x block`` matrix; a matched box gets its owner by one ``argmax``), the
rest of the block is resolved inside by the greedy fixed point of the block's ``i matches j`` matrix; unions are a
``scatter_reduce``. Memory is ``O(kept x block)``; the only Python loops run over classes and blocks.
"""
from __future__ import annotations

import torch
from torch import Tensor

from yolo12l.ops.boxes import box_area
from yolo12l.ops.nms import _greedy_keep

__all__ = ["MERGE_METHODS", "MATCH_METRICS", "match_matrix", "greedy_owners", "merge_detections"]

MERGE_METHODS = ("nms", "nmm")
MATCH_METRICS = ("iou", "ios")
_BLOCK = 512


def match_matrix(a: Tensor, b: Tensor, metric: str = "ios") -> Tensor:
    """Pairwise overlap of (K, 4) and (R, 4) xyxy boxes -> (K, R): ``iou`` = inter / union, ``ios`` = inter /
    the smaller area. Zero-area boxes give 0/0 = NaN, which never exceeds a threshold."""
    if metric not in MATCH_METRICS:
        raise ValueError(f"match metric must be one of {MATCH_METRICS}, got {metric!r}")
    ax1, ay1, ax2, ay2 = (c[:, None] for c in a.unbind(1))
    bx1, by1, bx2, by2 = b.unbind(1)
    iw = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    ih = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    inter = iw.mul_(ih)
    area_a, area_b = box_area(a)[:, None], box_area(b)[None, :]
    if metric == "iou":
        denom = (area_a + area_b).sub_(inter)
    else:
        denom = torch.minimum(area_a, area_b)
    return inter.div_(denom)


def greedy_owners(boxes: Tensor, match_thres: float, metric: str = "ios", block_size: int = _BLOCK) -> Tensor:
    """Greedy matching of (N, 4) xyxy boxes sorted by decreasing score -> (N,) int64 owner positions.

    ``owner[i] == i`` for a kept box; otherwise the first (highest-scored) kept box ``k < i`` with
    ``metric(box_k, box_i) > match_thres``. The kept set is greedy NMS's with this metric.
    """
    n = boxes.shape[0]
    owner = torch.arange(n, device=boxes.device)
    kept = owner[:0]
    for start in range(0, n, block_size):
        block = owner[start:start + block_size].clone()
        bb = boxes[block]
        if kept.numel():
            m = match_matrix(boxes[kept], bb, metric) > match_thres  # (K, b)
            hit = m.any(0)
            owner[block[hit]] = kept[m[:, hit].to(torch.uint8).argmax(0)]  # first kept box that matches
            block, bb = block[~hit], bb[~hit]
        if not block.numel():
            continue
        inner = (match_matrix(bb, bb, metric) > match_thres).triu_(1)  # i matches later j
        keep = _greedy_keep(inner)
        rest = ~keep
        if rest.any():
            # each absorbed box goes to the first box kept in this block that matches it
            owner[block[rest]] = block[(inner[:, rest] & keep[:, None]).to(torch.uint8).argmax(0)]
        kept = torch.cat((kept, block[keep]))
    return owner


def merge_detections(dets: Tensor, method: str = "nmm", match_metric: str = "ios", match_thres: float = 0.5,
                     max_det: int | None = None) -> Tensor:
    """Merges (N, 6) detections ``x1, y1, x2, y2, score, class`` found by overlapping views, class by class ->
    (M, 6) by decreasing score.

    method ``nms``: drop boxes matching a higher-scored kept box; ``nmm``: replace each kept box by the union of
    it and the boxes it absorbed (score: the kept box's, the highest). ``match_metric`` ``ios`` (SAHI's default)
    or ``iou``; a match is ``metric > match_thres``. ``max_det``: keep at most this many of the result.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"merge method must be one of {MERGE_METHODS}, got {method!r}")
    if match_metric not in MATCH_METRICS:
        raise ValueError(f"match metric must be one of {MATCH_METRICS}, got {match_metric!r}")
    if not 0.0 <= match_thres <= 1.0:
        raise ValueError(f"match_thres must be in [0, 1], got {match_thres}")
    if dets.ndim != 2 or dets.shape[1] != 6:
        raise ValueError(f"dets must be (N, 6), got {tuple(dets.shape)}")
    if dets.shape[0] == 0:
        return dets
    # class-major, then by decreasing score (stable: equal scores keep their input order)
    order = torch.sort(dets[:, 4], descending=True, stable=True).indices
    order = order[torch.sort(dets[order, 5], stable=True).indices]
    d = dets[order]
    boxes = d[:, :4].float()
    classes, counts = torch.unique_consecutive(d[:, 5], return_counts=True)
    owner = torch.empty(d.shape[0], dtype=torch.long, device=d.device)
    start = 0
    for c in counts.tolist():
        owner[start:start + c] = greedy_owners(boxes[start:start + c], match_thres, match_metric) + start
        start += c
    keep = (owner == torch.arange(d.shape[0], device=d.device)).nonzero().squeeze(1)
    out = d[keep].clone()
    if method == "nmm":
        lo = d[:, :2].clone().scatter_reduce_(0, owner[:, None].expand(-1, 2), d[:, :2], "amin")
        hi = d[:, 2:4].clone().scatter_reduce_(0, owner[:, None].expand(-1, 2), d[:, 2:4], "amax")
        out[:, :2], out[:, 2:4] = lo[keep], hi[keep]
    out = out[torch.sort(out[:, 4], descending=True, stable=True).indices]
    return out if max_det is None else out[:max_det]
