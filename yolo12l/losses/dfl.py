"""Distribution Focal Loss decoding: expected bin index of a softmax over ``reg_max`` bins."""
from __future__ import annotations

import torch
from torch import Tensor


def dfl_decode(logits: Tensor, reg_max: int = 16, dim: int = -1) -> Tensor:
    """Distribution Focal Loss decode: per side, softmax over ``reg_max`` bins and take the expected bin index.

    Args:
        logits: ``4 * reg_max`` logits along ``dim``, side-major (left, top, right, bottom x bins),
            e.g. ``(B, A, 64)`` with ``dim=-1`` or ``(B, 64, A)`` with ``dim=1``.

    Returns:
        ltrb distances in grid units, the ``4 * reg_max`` axis replaced by 4.
    """
    d = dim % logits.ndim
    if logits.shape[d] != 4 * reg_max:
        raise ValueError(f"dfl_decode: expected {4 * reg_max} channels on dim {dim}, got {logits.shape[d]}")
    prob = logits.unflatten(d, (4, reg_max)).softmax(d + 1).movedim(d + 1, -1)
    proj = torch.arange(reg_max, device=logits.device, dtype=prob.dtype)
    return prob.matmul(proj)
