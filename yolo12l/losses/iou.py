"""Element-wise box overlap: IoU and its generalised (GIoU), distance (DIoU) and complete (CIoU) variants.

GIoU = IoU - (C - U) / C with C the enclosing-box area (Rezatofighi et al. 2019).
DIoU = IoU - rho^2 / c^2 with rho the centre distance and c the enclosing-box diagonal (Zheng et al. 2020).
CIoU = DIoU - alpha * v, v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2, alpha = v / (1 - IoU + v) (no gradient through
alpha, as in the paper).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

IoUKind = Literal["iou", "giou", "diou", "ciou"]


def bbox_iou(box1: Tensor, box2: Tensor, xywh: bool = True, kind: IoUKind = "iou", eps: float = 1e-7) -> Tensor:
    """Overlap of ``box1 (..., 4)`` and ``box2 (..., 4)``, broadcast over the leading axes.

    Args:
        xywh: boxes are ``(cx, cy, w, h)``; otherwise ``(x1, y1, x2, y2)``.
        kind: ``"iou"``, ``"giou"``, ``"diou"`` or ``"ciou"``.
        eps: added to union / enclosing terms (and the minimum box height for xyxy) to avoid division by zero.

    Returns:
        ``(...)`` the overlap (the last axis dropped); for pairwise ``(N, M)`` use ``box1[:, None]``, ``box2[None]``.
    """
    if kind not in ("iou", "giou", "diou", "ciou"):
        raise ValueError(f"bbox_iou: unknown kind {kind!r}")
    if xywh:
        (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.unbind(-1), box2.unbind(-1)
        b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
        b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    else:
        b1_x1, b1_y1, b1_x2, b1_y2 = box1.unbind(-1)
        b2_x1, b2_y1, b2_x2, b2_y2 = box2.unbind(-1)
        w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
        w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)

    inter = (torch.minimum(b1_x2, b2_x2) - torch.maximum(b1_x1, b2_x1)).clamp(0) * (
        torch.minimum(b1_y2, b2_y2) - torch.maximum(b1_y1, b2_y1)
    ).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou

    cw = torch.maximum(b1_x2, b2_x2) - torch.minimum(b1_x1, b2_x1)  # enclosing box
    ch = torch.maximum(b1_y2, b2_y2) - torch.minimum(b1_y1, b2_y1)
    if kind == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area

    c2 = cw.pow(2) + ch.pow(2) + eps  # squared diagonal of the enclosing box
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    if kind == "diou":
        return iou - rho2 / c2

    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)
