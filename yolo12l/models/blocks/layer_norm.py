"""LayerNorm over the channels of a (B, C, H, W) map (Restormer/TBSN style), with and without bias."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

LAYER_NORM_TYPES = ("BiasFree", "WithBias")


class LayerNorm2d(nn.Module):
    """Per-pixel LayerNorm over channels. (B, C, H, W) → (B, C, H, W).

    ``"WithBias"``: (x − μ) / √(σ² + ε) · w + b (standard LayerNorm). ``"BiasFree"``: x / √(σ² + ε) · w — the
    variance is still taken around the mean, but the mean is not subtracted from x and there is no bias.
    Statistics are computed in float32 (stable under fp16/bf16 autocast); the result has the input's dtype.
    """

    def __init__(self, dim: int, norm_type: str = "BiasFree", eps: float = 1e-5):
        super().__init__()
        if norm_type not in LAYER_NORM_TYPES:
            raise ValueError(f"norm_type must be one of {LAYER_NORM_TYPES}, got {norm_type!r}")
        self.bias_free = norm_type == "BiasFree"
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = None if self.bias_free else nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        if self.bias_free:
            var = xf.var(dim=1, keepdim=True, unbiased=False)
            y = xf * torch.rsqrt(var + self.eps) * self.weight.float().view(1, -1, 1, 1)
        else:
            y = F.layer_norm(xf.movedim(1, -1), xf.shape[1:2], self.weight.float(), self.bias.float(),
                             self.eps).movedim(-1, 1)
        return y.to(x.dtype)
