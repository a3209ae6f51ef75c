"""Box format conversions, pairwise IoU and clipping.

All functions take boxes as ``(..., 4)`` tensors in pixels and never modify their input.
``xyxy`` = (x1, y1, x2, y2) corners; ``xywh`` = (cx, cy, w, h) centre and size.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def xywh2xyxy(x: Tensor) -> Tensor:
    """(..., 4) centre-size boxes -> (..., 4) corner boxes."""
    _check_last_dim(x)
    xy, wh = x[..., :2], x[..., 2:4]
    half = wh / 2
    return torch.cat((xy - half, xy + half), dim=-1)


def xyxy2xywh(x: Tensor) -> Tensor:
    """(..., 4) corner boxes -> (..., 4) centre-size boxes."""
    _check_last_dim(x)
    p1, p2 = x[..., :2], x[..., 2:4]
    return torch.cat(((p1 + p2) / 2, p2 - p1), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """(..., 4) xyxy -> (...,) area; negative extents count as zero."""
    _check_last_dim(boxes)
    wh = (boxes[..., 2:4] - boxes[..., :2]).clamp_min(0)
    return wh[..., 0] * wh[..., 1]


def box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 0.0) -> Tensor:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M).

    ``iou = inter / (union + eps)``. With the default ``eps=0`` two zero-area boxes give NaN (0/0), which compares
    False against any threshold, so degenerate boxes never suppress each other in NMS (as torchvision does).
    """
    if boxes1.ndim != 2 or boxes2.ndim != 2:
        raise ValueError(f"box_iou expects (N, 4) and (M, 4), got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}")
    _check_last_dim(boxes1)
    _check_last_dim(boxes2)
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.minimum(boxes1[:, None, 2:4], boxes2[None, :, 2:4])
    wh = (rb - lt).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return inter / (union + eps)


def clip_boxes(boxes: Tensor, shape: Sequence[int]) -> Tensor:
    """Clamp (..., 4) xyxy boxes to an image of ``shape = (height, width)``; returns a new tensor."""
    _check_last_dim(boxes)
    h, w = float(shape[0]), float(shape[1])
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def _check_last_dim(x: Tensor) -> None:
    if x.shape[-1] != 4:
        raise ValueError(f"boxes must have a last dimension of 4, got shape {tuple(x.shape)}")
