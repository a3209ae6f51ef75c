"""YOLOv12 "turbo" area attention (the paper repository's later code): AAttnTurbo, ABlockTurbo, A2C2f_Turbo.

Differences to :class:`~yolo12l.models.blocks.area_attention.AAttn`, read from the paper repo's weight shapes (the
parameter and state-dict counts of all five scales equal theirs) and its reference outputs (matched, see
``tests/interop/test_paper_checkpoints.py``):

* queries/keys and values come from two 1×1 convs: ``qk`` (C → 2C, channels ``[q (heads × head_dim), k (heads ×
  head_dim)]``, i.e. all of q first, then all of k) and ``v`` (C → C, heads × head_dim);
* the positional term is a 5×5 depthwise conv + BN on v (7×7 in YOLO12);
* l/x scales use mlp_ratio 1.5 (1.2 in YOLO12), still with the residual layer scale.

Strips (``area``), padding of token counts not divisible by ``area`` and the head dim (32) are as in ``AAttn``.

Not identified by the reference outputs: the q/k channel order and the strip count. With the parity file's random
weights the attention logits have a standard deviation of at most 0.03, so every softmax is uniform to 1e-3 and
reading qk as per-head [q_h, k_h], swapping q and k, or using one strip instead of four leaves the output unchanged
to float32 rounding (``benchmarks/checks/paper_parity_sensitivity.py``). The order used, all of q then all of k, is the
plain reading of a 2C ``qk`` conv; strips are those of the model YAML, as in YOLO12.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..registry import register_block
from .area_attention import A2C2f, AAttn, ABlock
from .conv import Conv


class AAttnTurbo(AAttn):
    """Turbo area attention. (B, C, H, W) → (B, C, H, W): ``proj(attn(q, k, v) + pe(v))``.

    Shares AAttn's strip masking and merging; only the projections differ (separate ``qk`` and ``v`` convs instead
    of the fused ``qkv``) and the positional conv is 5×5.
    """

    pe_kernel = 5

    def build_projections(self, dim: int, all_head_dim: int) -> None:
        self.qk = Conv(dim, all_head_dim * 2, 1, act=False)
        self.v = Conv(dim, all_head_dim, 1, act=False)

    def _strips(self, t: torch.Tensor, pad: int) -> torch.Tensor:
        """(B, heads·head_dim, H, W) → (B·area, heads, N/area, head_dim)."""
        t = rearrange(t, "b (h d) y x -> b h (y x) d", h=self.num_heads)
        if pad:
            t = F.pad(t, (0, 0, 0, pad))
        return rearrange(t, "b h (a n) d -> (b a) h n d", a=self.area)

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """(B, C, H, W) → q, k, v each (B·area, heads, N/area, head_dim) and the number of padded tokens."""
        pad = (-x.shape[2] * x.shape[3]) % self.area
        q, k = self.qk(x).chunk(2, 1)
        return self._strips(q, pad), self._strips(k, pad), self._strips(self.v(x), pad), pad


class ABlockTurbo(ABlock):
    """ABlock whose attention is :class:`AAttnTurbo`: x + attn(x), then x + mlp(x)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 1.2, area: int = 1):
        super().__init__(dim, num_heads, mlp_ratio, area)
        self.attn = AAttnTurbo(dim, num_heads=num_heads, area=area)  # replaces AAttn in place (same key order)
        self.attn.apply(self._init_weights)


@register_block(channels="scaled", repeats=True, scale_overrides={"lx": {"residual": True, "mlp_ratio": 1.5}})
class A2C2f_Turbo(A2C2f):  # noqa: N801  (YAML name, in the style of the reference's block names)
    """R-ELAN block with turbo attention stages (two :class:`ABlockTurbo` per stage).

    (B, c1, H, W) → (B, c2, H, W)."""

    def attention_stage(self, c: int, mlp_ratio: float, area: int) -> nn.Module:
        return nn.Sequential(*(ABlockTurbo(c, c // 32, mlp_ratio, area) for _ in range(2)))
