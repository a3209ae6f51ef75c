"""Flat batch targets (one row per box) -> per-image padded GT tensors for the assigner."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def pad_targets(
    batch: Mapping[str, Tensor], batch_size: int, imgsz_hw: tuple[float, float], num_classes: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Group boxes by image and pad to the largest count, without a Python loop over images.

    Args:
        batch: ``batch_idx (N,)`` image index of each box, ``cls (N,)`` or ``(N, 1)`` class ids,
            ``bboxes (N, 4)`` normalised ``(cx, cy, w, h)``.
        batch_size: number of images B (images without boxes are allowed).
        imgsz_hw: input size in pixels ``(H, W)``.
        num_classes: for validating class ids.

    Returns:
        gt_labels ``(B, M, 1)`` long, gt_bboxes ``(B, M, 4)`` xyxy pixels, mask_gt ``(B, M, 1)`` bool (real GTs);
        ``M`` is the largest per-image box count (0 when the batch has no box). Boxes keep their input order.

    Raises:
        KeyError / ValueError on missing keys, inconsistent shapes, out-of-range image or class ids, non-finite boxes.
    """
    for key in ("batch_idx", "cls", "bboxes"):
        if key not in batch:
            raise KeyError(f"loss targets: batch has no {key!r} (needs batch_idx, cls, bboxes)")
    bboxes = torch.as_tensor(batch["bboxes"])
    n = bboxes.shape[0] if bboxes.ndim else 0
    if bboxes.ndim != 2 or bboxes.shape[1] != 4:
        raise ValueError(f"loss targets: bboxes must be (N, 4), got {tuple(bboxes.shape)}")
    idx = torch.as_tensor(batch["batch_idx"], device=bboxes.device).reshape(-1)
    cls = torch.as_tensor(batch["cls"], device=bboxes.device).reshape(-1)
    if idx.numel() != n or cls.numel() != n:
        raise ValueError(f"loss targets: {n} boxes but batch_idx has {idx.numel()} and cls {cls.numel()} entries")
    device = bboxes.device
    bboxes = bboxes.float()
    if n:
        if not torch.isfinite(bboxes).all():
            raise ValueError("loss targets: non-finite values in bboxes")
        if (idx != idx.round()).any() or idx.min() < 0 or idx.max() >= batch_size:
            raise ValueError(
                f"loss targets: batch_idx must be integers in [0, {batch_size}), "
                f"got values in [{idx.min().item()}, {idx.max().item()}]"
            )
        if (cls != cls.round()).any() or cls.min() < 0 or cls.max() >= num_classes:
            raise ValueError(
                f"loss targets: class ids must be integers in [0, {num_classes}), "
                f"got values in [{cls.min().item()}, {cls.max().item()}]"
            )
    idx, cls = idx.long(), cls.long()

    counts = torch.bincount(idx, minlength=batch_size)
    m = int(counts.max()) if n else 0
    order = torch.argsort(idx, stable=True)
    img = idx[order]
    slot = torch.arange(n, device=device) - (counts.cumsum(0) - counts)[img]  # rank of each box inside its image

    h, w = float(imgsz_hw[0]), float(imgsz_hw[1])
    scale = torch.tensor([w, h, w, h], device=device, dtype=torch.float32)
    xywh = bboxes[order] * scale
    half = xywh[:, 2:] / 2
    xyxy = torch.cat((xywh[:, :2] - half, xywh[:, :2] + half), 1)

    gt_labels = torch.zeros(batch_size, m, 1, dtype=torch.long, device=device)
    gt_bboxes = torch.zeros(batch_size, m, 4, dtype=torch.float32, device=device)
    mask_gt = torch.zeros(batch_size, m, 1, dtype=torch.bool, device=device)
    gt_labels[img, slot, 0] = cls[order]
    gt_bboxes[img, slot] = xyxy
    mask_gt[img, slot] = True
    return gt_labels, gt_bboxes, mask_gt
