"""Anchor points and box <-> distance conversions for the anchor-free (DFL) head.

Conventions
-----------
* Anchors are grid-cell centres in *grid units* of their level (``x + offset, y + offset``), ordered level by level
  (P3, P4, P5) and row-major inside a level (x fastest), i.e. the order of ``torch.cat([f.flatten(2) for f in feats])``.
* ``stride_tensor`` holds each anchor's stride; ``anchor_points * stride_tensor`` are centres in input pixels.
* Distances are ``(left, top, right, bottom)`` from the anchor to the box sides, in the same units as the anchors.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def make_anchors(
    feats: Sequence[Tensor] | Sequence[tuple[int, int]],
    strides: Sequence[float] | Tensor,
    offset: float = 0.5,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Grid-cell centres of every level.

    Args:
        feats: per-level maps ``(B, C, H_i, W_i)`` or per-level sizes ``(H_i, W_i)``.
        strides: one stride per level.
        offset: offset of the centre inside a cell (0.5 = cell centre).
        device, dtype: override; default to those of ``feats[0]`` (float32 / cpu for sizes or non-float maps).

    Returns:
        anchor_points ``(A, 2)`` as ``(x, y)`` in grid units, stride_tensor ``(A, 1)``, with ``A = sum(H_i * W_i)``.
    """
    strides = [float(s) for s in (strides.tolist() if isinstance(strides, Tensor) else strides)]
    if len(feats) != len(strides):
        raise ValueError(f"make_anchors: {len(feats)} levels but {len(strides)} strides")
    first = feats[0] if len(feats) else None
    if isinstance(first, Tensor):
        device = device if device is not None else first.device
        if dtype is None and first.is_floating_point():
            dtype = first.dtype
    dtype = dtype or torch.float32
    points, stride_list = [], []
    for f, s in zip(feats, strides):
        h, w = (int(v) for v in (f.shape[-2:] if isinstance(f, Tensor) else f))
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        stride_list.append(torch.full((h * w, 1), s, device=device, dtype=dtype))
    return torch.cat(points), torch.cat(stride_list)


def _coord_last(anchor_points: Tensor, ndim: int, dim: int) -> Tensor:
    """Anchor points laid out to broadcast against a tensor whose 4 (or 2) coordinates lie along ``dim``."""
    d = dim % ndim
    if d == ndim - 1:
        return anchor_points
    if d == ndim - 2:
        return anchor_points.transpose(-1, -2)
    raise ValueError(f"coordinates must lie on the last or second-to-last axis, got dim={dim} for {ndim}-D input")


def dist2bbox(distance: Tensor, anchor_points: Tensor, xywh: bool = True, dim: int = -1) -> Tensor:
    """ltrb distances -> boxes.

    Args:
        distance: ``(..., A, 4)`` with ``dim=-1`` (default), or channel-first ``(..., 4, A)`` with ``dim=-2``
            (e.g. ``dim=1`` for ``(B, 4, A)``).
        anchor_points: ``(A, 2)`` as returned by :func:`make_anchors` (transposed internally for ``dim=-2``).
        xywh: return ``(cx, cy, w, h)`` instead of ``(x1, y1, x2, y2)``.

    Returns:
        boxes with the layout of ``distance`` (4 coordinates along ``dim``), same units as the inputs.
    """
    anc = _coord_last(anchor_points, distance.ndim, dim)
    lt, rb = distance.chunk(2, dim)
    x1y1 = anc - lt
    x2y2 = anc + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return torch.cat((x1y1, x2y2), dim)


def bbox2dist(anchor_points: Tensor, bbox: Tensor, max_dist: float | None = None) -> Tensor:
    """xyxy boxes ``(..., A, 4)`` -> ltrb distances ``(..., A, 4)`` from ``anchor_points (A, 2)``.

    Distances are clamped to ``[0, max_dist]`` when ``max_dist`` is given (the DFL target range).
    """
    x1y1, x2y2 = bbox.chunk(2, -1)
    dist = torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1)
    return dist if max_dist is None else dist.clamp(0, max_dist)
