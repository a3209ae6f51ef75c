"""YOLO12 area attention (A2): AAttn, ABlock and the R-ELAN block A2C2f.

Area attention splits the flattened (row-major) feature map into ``area`` contiguous strips of tokens — horizontal
bands of the map — and runs multi-head self-attention inside each strip.

Token counts not divisible by ``area``: the token sequence is padded at its end to a multiple of ``area`` and the
padded keys are masked out, so every strip has ``ceil(N / area)`` slots and the last one holds fewer real tokens.
When N divides evenly (every YOLO input whose sides are multiples of 32) this is exactly the reference computation.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import register_block
from .conv import Conv, add_into, cat_parts, is_channels_last
from .csp import C3k


class AAttn(nn.Module):
    """Area attention. (B, C, H, W) → (B, C, H, W).

    ``qkv`` is one 1×1 conv whose output channels are laid out per head as [q_h, k_h, v_h] (head dim C/num_heads);
    the output is ``proj(attn + pe(v))`` with ``pe`` a 7×7 depthwise conv + BN on the values.
    """

    pe_kernel = 7  # of the depthwise positional conv on the values

    def __init__(self, dim: int, num_heads: int, area: int = 1):
        super().__init__()
        self.area = area
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        all_head_dim = self.head_dim * num_heads
        self.build_projections(dim, all_head_dim)
        self.proj = Conv(all_head_dim, dim, 1, act=False)
        k = self.pe_kernel
        self.pe = Conv(all_head_dim, dim, k, 1, k // 2, g=dim, act=False)

    def build_projections(self, dim: int, all_head_dim: int) -> None:
        """The input projections (built before ``proj`` and ``pe``: the checkpoints' key order)."""
        self.qkv = Conv(dim, all_head_dim * 3, 1, act=False)

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """(B, C, H, W) → q, k, v each (B·area, heads, N/area, head_dim) and the number of padded tokens.

        Views of the qkv output where its layout allows (channels-last: no copy unless tokens are padded).
        """
        qkv = self.qkv(x)
        B, _, H, W = qkv.shape
        qkv = qkv.reshape(B, self.num_heads, 3, self.head_dim, H * W).permute(2, 0, 1, 4, 3)  # (3, B, h, N, d)
        pad = (-(H * W)) % self.area
        if pad:
            qkv = F.pad(qkv, (0, 0, 0, pad))
        n = qkv.shape[3] // self.area
        qkv = qkv.reshape(3, B, self.num_heads, self.area, n, self.head_dim).transpose(2, 3)
        q, k, v = qkv.reshape(3, B * self.area, self.num_heads, n, self.head_dim)
        return q, k, v, pad

    def key_mask(self, n: int, pad: int, device: torch.device) -> torch.Tensor | None:
        """Boolean (area, 1, n, n) attention mask, or None when nothing is padded.

        Real queries see only real keys; padded queries (dropped afterwards) see everything, so no softmax row is
        empty even when a whole strip is padding.
        """
        if not pad:
            return None
        real = torch.arange(self.area * n, device=device).view(self.area, n) < self.area * n - pad
        return (real[:, None, :] | ~real[:, :, None]).unsqueeze(1)

    def merge(self, t: torch.Tensor, shape: torch.Size, pad: int, channels_last: bool = False) -> torch.Tensor:
        """(B·area, heads, N/area, head_dim) → (B, C, H, W), dropping padded tokens; stored channels-last (NHWC)
        when ``channels_last`` (the fused network's layout: the SDPA output needs no copy then), else contiguous
        where a copy is needed."""
        B, _, H, W = shape
        t = t.view(B, self.area, self.num_heads, -1, self.head_dim)  # (B, a, h, n, d)
        if channels_last:
            t = t.permute(0, 1, 3, 2, 4).reshape(B, -1, self.num_heads * self.head_dim)  # (B, a·n, C)
            return t[:, : H * W].reshape(B, H, W, -1).permute(0, 3, 1, 2)
        t = t.permute(0, 2, 4, 1, 3).reshape(B, self.num_heads * self.head_dim, -1)  # (B, C, a·n)
        return t[..., : H * W].reshape(B, -1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v, pad = self.split_qkv(x)
        mask = self.key_mask(q.shape[2], pad, x.device)
        if mask is not None:
            mask = mask.repeat(x.shape[0], 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        cl = is_channels_last(x)
        out = add_into(self.pe(self.merge(v, x.shape, pad, cl)), self.merge(out, x.shape, pad, cl))
        return self.proj(out)

    def forward_explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The same computation written as an explicit softmax(QKᵀ/√d)V (for tests and reading)."""
        q, k, v, pad = self.split_qkv(x)
        logits = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5
        mask = self.key_mask(q.shape[2], pad, x.device)
        if mask is not None:
            logits = logits.masked_fill(~mask.repeat(x.shape[0], 1, 1, 1), float("-inf"))
        out = logits.softmax(-1) @ v
        out = self.merge(out, x.shape, pad) + self.pe(self.merge(v, x.shape, pad))
        return self.proj(out)


class ABlock(nn.Module):
    """Area-attention transformer block: x + attn(x), then x + mlp(x) (1×1 convs, hidden = dim·mlp_ratio)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 1.2, area: int = 1):
        super().__init__()
        self.attn = AAttn(dim, num_heads=num_heads, area=area)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = add_into(self.attn(x), x)
        return add_into(self.mlp(x), x)


@register_block(channels="scaled", repeats=True, scale_overrides={"lx": {"residual": True, "mlp_ratio": 1.2}})
class A2C2f(nn.Module):
    """R-ELAN block: cv1 → n stages (two ABlocks each when ``a2`` else a C3k) chained, concat, cv2.

    With ``a2`` and ``residual`` the output is ``x + gamma·y`` (layer scale initialised to 0.01).
    (B, c1, H, W) → (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, a2: bool = True, area: int = 1, residual: bool = False,
                 mlp_ratio: float = 2.0, e: float = 0.5, g: int = 1, shortcut: bool = True):
        super().__init__()
        c_ = int(c2 * e)
        if c_ % 32:
            raise ValueError(f"A2C2f hidden width {c_} must be a multiple of 32 (the attention head dim)")
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv((1 + n) * c_, c2, 1)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2), requires_grad=True) if a2 and residual else None
        self.m = nn.ModuleList(
            self.attention_stage(c_, mlp_ratio, area) if a2 else self.conv_stage(c_, shortcut, g) for _ in range(n)
        )

    def attention_stage(self, c: int, mlp_ratio: float, area: int) -> nn.Module:
        """One a2 stage c → c; variants (A2C2f_Halo, A2C2f_DTAB) override this."""
        return nn.Sequential(*(ABlock(c, c // 32, mlp_ratio, area) for _ in range(2)))

    def conv_stage(self, c: int, shortcut: bool, g: int) -> nn.Module:
        """One non-a2 stage c → c."""
        return C3k(c, c, 2, shortcut, g)

    takes_parts = True  # forward accepts a list of channel parts (see Concat.pass_parts)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, list) and self.gamma is not None:
            x = cat_parts(x)  # the residual needs the whole input
        y = [self.cv1.forward_cat(x) if isinstance(x, list) else self.cv1(x)]
        for m in self.m:
            y.append(m(y[-1]))
        y = self.cv2.forward_cat(y)
        if self.gamma is not None:
            return add_into(self.gamma.view(1, -1, 1, 1) * y, x)
        return y
