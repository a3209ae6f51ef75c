"""HaloNet blocked local self-attention (arXiv 2103.12731) as YOLO12 blocks.

* :class:`HaloAttention` — b×b query blocks attend to their (b+2h)² halo neighbourhood, multi-head, with learned
  2-D relative position logits (see :mod:`.local_window` for the exact geometry and padding rules).
* :class:`HaloConv` — the strided variant (queries at stride s, keys at full resolution) usable where a
  ``Conv [c2, 3, 2]`` downsampling layer stands; YAML args ``[c2, block_size, halo_size, stride]``.
* :class:`HaloBlock` — ABlock with Halo attention: x + attn(x), then x + mlp(x) (1×1 convs, hidden = dim·mlp_ratio).
* :class:`A2C2f_Halo` / :class:`C3k2_Halo` — A2C2f / C3k2 with Halo blocks inside, same YAML args and scale rules.

Defaults follow HaloNet: block 8, halo 3, head dim 32 (``num_heads = max(c // 32, 1)``, head dim ``c // heads``).
Like AAttn, projections are 1×1 Conv+BN (no activation) and there is no pre-norm: BN plays that role in YOLO.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import register_block
from .area_attention import A2C2f, ABlock
from .conv import Conv
from .csp import C3k2
from .local_window import LocalWindowAttention, heads_for


class HaloAttention(nn.Module):
    """(B, c1, H, W) → (B, c2, ceil(H/stride), ceil(W/stride)); c2 defaults to c1.

    q, k, v are 1×1 projections computed once on the whole map (q on the stride-subsampled map, which equals
    subsampling a full-resolution 1×1 projection), then windowed; ``proj`` maps heads·head_dim → c2.
    """

    def __init__(self, c1: int, c2: int | None = None, num_heads: int | None = None, block_size: int = 8,
                 halo_size: int = 3, stride: int = 1, head_dim: int = 32):
        super().__init__()
        c2 = c2 or c1
        self.num_heads = num_heads or heads_for(c2, head_dim)
        self.head_dim = c2 // self.num_heads
        if self.head_dim < 1:
            raise ValueError(f"{self.num_heads} heads do not fit in {c2} channels")
        inner = self.num_heads * self.head_dim
        self.stride = stride
        self.q = Conv(c1, inner, 1, act=False)
        self.kv = Conv(c1, 2 * inner, 1, act=False)
        self.attn = LocalWindowAttention(self.num_heads, self.head_dim, block_size, halo_size, stride)
        self.proj = Conv(inner, c2, 1, act=False)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Projected maps: q (B, inner, ceil(H/s), ceil(W/s)), k and v (B, inner, H, W)."""
        s = self.stride
        q = self.q(x[..., ::s, ::s] if s > 1 else x)
        k, v = self.kv(x).chunk(2, 1)
        return q, k, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attn(*self.qkv(x)))


@register_block(channels="scaled")
class HaloConv(nn.Module):
    """Strided Halo attention + SiLU, a drop-in for a downsampling Conv. (B, c1, H, W) → (B, c2, H/s, W/s).

    YAML: ``[-1, 1, HaloConv, [c2, block_size, halo_size, stride]]`` (defaults 8, 3, 2).
    """

    def __init__(self, c1: int, c2: int, block_size: int = 8, halo_size: int = 3, stride: int = 2):
        super().__init__()
        self.attn = HaloAttention(c1, c2, block_size=block_size, halo_size=halo_size, stride=stride)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.attn(x))


class HaloBlock(nn.Module):
    """Halo transformer block (ABlock layout): x + attn(x), then x + mlp(x). (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, dim: int, num_heads: int | None = None, mlp_ratio: float = 1.2, block_size: int = 8,
                 halo_size: int = 3):
        super().__init__()
        self.attn = HaloAttention(dim, dim, num_heads, block_size, halo_size)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))
        self.apply(ABlock._init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


@register_block(channels="scaled", repeats=True, scale_overrides={"lx": {"residual": True, "mlp_ratio": 1.2}})
class A2C2f_Halo(A2C2f):
    """A2C2f whose area-attention stages are two HaloBlocks each; non-a2 stages stay C3k (as in A2C2f).

    Same YAML args as A2C2f ``[c2, a2, area, ...]``; ``area`` is accepted and ignored (the locality comes from the
    block/halo geometry, ``block_size``/``halo_size`` are extra trailing arguments). The l/x rule (residual layer
    scale, mlp_ratio 1.2) applies unchanged.
    """

    def __init__(self, c1: int, c2: int, n: int = 1, a2: bool = True, area: int = 1, residual: bool = False,
                 mlp_ratio: float = 2.0, e: float = 0.5, g: int = 1, shortcut: bool = True, block_size: int = 8,
                 halo_size: int = 3):
        self.block_size, self.halo_size = block_size, halo_size  # read by attention_stage during super().__init__
        super().__init__(c1, c2, n, a2, area, residual, mlp_ratio, e, g, shortcut)

    def attention_stage(self, c: int, mlp_ratio: float, area: int) -> nn.Module:
        return nn.Sequential(*(HaloBlock(c, heads_for(c), mlp_ratio, self.block_size, self.halo_size)
                               for _ in range(2)))


@register_block(channels="scaled", repeats=True, scale_overrides={"mlx": {"c3k": True}})
class C3k2_Halo(C3k2):
    """C3k2 whose inner blocks are HaloBlocks: one per repeat, or two chained when ``c3k`` (the m/l/x rule, where
    C3k2 uses a two-bottleneck C3k). HaloBlock is residual itself, so ``shortcut`` and ``g`` are ignored."""

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, g: int = 1,
                 shortcut: bool = True, mlp_ratio: float = 2.0, block_size: int = 8, halo_size: int = 3):
        self.mlp_ratio, self.block_size, self.halo_size = mlp_ratio, block_size, halo_size
        super().__init__(c1, c2, n, c3k, e, g, shortcut)

    def inner(self, c: int, c3k: bool, shortcut: bool, g: int) -> nn.Module:
        blocks = [HaloBlock(c, heads_for(c), self.mlp_ratio, self.block_size, self.halo_size)
                  for _ in range(2 if c3k else 1)]
        return nn.Sequential(*blocks) if c3k else blocks[0]
