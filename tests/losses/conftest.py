"""Synthetic head outputs whose decoded boxes roughly match their GTs (so the box losses see positives)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


def make_case(
    bs: int = 2,
    imgsz: tuple[int, int] = (64, 96),
    nc: int = 4,
    boxes_per_image: tuple[int, ...] = (3, 1),
    strides: tuple[int, ...] = (8, 16, 32),
    seed: int = 0,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Random-but-sane feats (DFL peaked near 2 cells, mild class logits) and normalised xywh targets."""
    g = torch.Generator().manual_seed(seed)
    h, w = imgsz
    feats = []
    for s in strides:
        f = torch.randn(bs, 64 + nc, h // s, w // s, generator=g) * 0.5
        f[:, :64].view(bs, 4, 16, h // s, w // s)[:, :, 2] += 4.0  # expected distance ~2 cells per side
        feats.append(f)
    idx, cls, boxes = [], [], []
    for i, n in enumerate(boxes_per_image):
        for _ in range(n):
            cx, cy = 0.2 + 0.6 * torch.rand(2, generator=g)
            bw, bh = 0.2 + 0.3 * torch.rand(2, generator=g)
            idx.append(float(i))
            cls.append([float(torch.randint(nc, (1,), generator=g))])
            boxes.append([cx, cy, bw, bh])
    batch = {
        "batch_idx": torch.tensor(idx, dtype=torch.float32).reshape(-1),
        "cls": torch.tensor(cls, dtype=torch.float32).reshape(-1, 1),
        "bboxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
    }
    return feats, batch


@pytest.fixture
def synthetic_case() -> Callable[..., tuple[list[torch.Tensor], dict[str, torch.Tensor]]]:
    return make_case
