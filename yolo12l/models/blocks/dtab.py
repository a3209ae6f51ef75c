"""TBSN's dilated transformer attention block (DTAB, arXiv 2404.07846) and its YOLO12 wrappers.

``DTAB(x)``: x + ChannelAttn(LN(x)); x + FFN(LN(x)); x + SpatialAttn(LN(x)); x + FFN(LN(x)), with

* :class:`DilatedMDTA` — channel ("transposed") attention inside head groups of channels, q/k/v from a 1×1 conv
  followed by a dilation-2 depthwise 3×3 conv, q and k L2-normalised over the pixels, a learned temperature per head.
* :class:`DilatedOCA` — overlapping-window spatial attention with a fixed dilation mask (below).
* :class:`DilatedFeedForward` — 3×3 dilation-2 conv → GELU → 3×3 dilation-2 conv (hidden = dim·expansion).

DilatedOCA geometry (window ws, overlap ratio r): the map is cut into ws×ws query windows; each attends to the
ow×ow key window centred on it, ow = ws + int(ws·r), i.e. a halo of p = (ow − ws)/2 pixels (ow − ws must be even),
exactly the blocked attention of :mod:`.local_window` with block ws and halo p. Relative-position logits
q·rel_h[Δy] + q·rel_w[Δx] cover the overlap window. Any map size: padded to a multiple of ws, padded keys masked.

The dilation mask keeps a key only when its offset from the query (Δy, Δx) has both coordinates even: the spatial
attention sees the same lattice as a dilation-2 convolution. That is what keeps TBSN blind-spot: after the centre-masked
first conv every offset in the receptive field has an odd coordinate, and adding even offsets keeps it so, so no
layer ever reaches the centre pixel again. It is a constant buffer
of −1e4 logits (finite in fp16/bf16; not a parameter, so weight decay cannot touch it). For the default ws = 4,
r = 0.5 (ow = 6, p = 1) a query at window row qy ∈ {0, 1, 2, 3} sees key rows Δy ∈ [−1 − qy, 4 − qy], six
consecutive offsets of which exactly three are even — {0, 2, 4}, {−2, 0, 2}, {−2, 0, 2}, {−4, −2, 0} — so every
query attends to a 3×3 dilation-2 lattice of 9 of the 36 window keys, itself included (fewer at the image border).

Head counts at YOLO widths: spatial heads use their own ``spatial_dim_head`` (inner width heads·dim_head, any dim
works); channel heads are ``gcd(dim, num_channel_heads)`` so the groups are always equal (every YOLO12 width is a
multiple of 32, so the default 4 is kept at all scales).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ..registry import register_block
from .area_attention import A2C2f
from .csp import C3k2
from .layer_norm import LayerNorm2d
from .local_window import LocalWindowAttention, channel_heads


class DilatedOCA(nn.Module):
    """Dilated overlapping-window spatial attention. (B, dim, H, W) → (B, dim, H, W)."""

    def __init__(self, dim: int, window_size: int = 4, overlap_ratio: float = 0.5, num_heads: int = 2,
                 dim_head: int = 16, bias: bool = False, dilation: int = 2):
        super().__init__()
        overlap = int(window_size * overlap_ratio)
        if overlap % 2:
            raise ValueError(f"the overlap window must grow the window by an even amount, got {window_size} + "
                             f"{overlap} (window_size={window_size}, overlap_ratio={overlap_ratio})")
        self.window_size, self.overlap_win_size = window_size, window_size + overlap
        self.num_heads, self.dim_head = num_heads, dim_head
        inner = num_heads * dim_head
        self.qkv = nn.Conv2d(dim, 3 * inner, 1, bias=bias)
        self.attn = LocalWindowAttention(num_heads, dim_head, window_size, overlap // 2, dilation=dilation)
        self.project_out = nn.Conv2d(inner, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project_out(self.attn(*self.qkv(x).chunk(3, 1)))


class DilatedMDTA(nn.Module):
    """Grouped channel attention with dilated depthwise q/k/v. (B, dim, H, W) → (B, dim, H, W).

    Per head group of dim/heads channels: softmax(t · q̂ k̂ᵀ) v with q̂, k̂ rows L2-normalised over the H·W pixels
    and t a learned per-head temperature — a (dim/heads)² attention map, linear in the number of pixels.
    """

    def __init__(self, dim: int, num_heads: int = 4, bias: bool = False):
        super().__init__()
        self.num_heads = channel_heads(dim, num_heads)
        self.temperature = nn.Parameter(torch.ones(self.num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=2, dilation=2, groups=3 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        q, k, v = rearrange(self.qkv_dwconv(self.qkv(x)), "b (t h c) y x -> t b h c (y x)", t=3, h=self.num_heads)
        q = F.normalize(q, dim=-1) * self.temperature.to(q.dtype)
        k = F.normalize(k, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return self.project_out(rearrange(out, "b h c (y x) -> b (h c) y x", y=H, x=W))


class DilatedFeedForward(nn.Module):
    """3×3 dilation-2 conv → GELU → 3×3 dilation-2 conv. (B, dim, H, W) → (B, dim, H, W)."""

    def __init__(self, dim: int, ffn_expansion_factor: float = 1.0, bias: bool = False):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden, 3, padding=2, dilation=2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 3, padding=2, dilation=2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project_out(F.gelu(self.project_in(x)))


class DTAB(nn.Module):
    """Dilated transformer attention block: channel attention, FFN, spatial attention, FFN, each pre-norm and
    residual. (B, dim, H, W) → (B, dim, H, W). Defaults are TBSN's."""

    def __init__(self, dim: int, window_size: int = 4, overlap_ratio: float = 0.5, num_channel_heads: int = 4,
                 num_spatial_heads: int = 2, spatial_dim_head: int = 16, ffn_expansion_factor: float = 1.0,
                 bias: bool = False, layer_norm_type: str = "BiasFree"):
        super().__init__()
        self.channel_attn = DilatedMDTA(dim, num_channel_heads, bias)
        self.spatial_attn = DilatedOCA(dim, window_size, overlap_ratio, num_spatial_heads, spatial_dim_head, bias)
        self.norm1, self.norm2, self.norm3, self.norm4 = (LayerNorm2d(dim, layer_norm_type) for _ in range(4))
        self.channel_ffn = DilatedFeedForward(dim, ffn_expansion_factor, bias)
        self.spatial_ffn = DilatedFeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.channel_attn(self.norm1(x))
        x = x + self.channel_ffn(self.norm2(x))
        x = x + self.spatial_attn(self.norm3(x))
        return x + self.spatial_ffn(self.norm4(x))


@register_block(channels="scaled", repeats=True, scale_overrides={"mlx": {"c3k": True}})
class C3k2_DTAB(C3k2):
    """C3k2 whose inner blocks are DTABs: one per repeat, two chained when ``c3k`` (the m/l/x rule; C3k2 then uses
    a two-bottleneck C3k). DTAB is residual itself, so ``shortcut`` and ``g`` are ignored. YAML args as C3k2."""

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, g: int = 1,
                 shortcut: bool = True, window_size: int = 4, ffn_expansion_factor: float = 1.0):
        self.window_size, self.ffn_expansion_factor = window_size, ffn_expansion_factor
        super().__init__(c1, c2, n, c3k, e, g, shortcut)

    def inner(self, c: int, c3k: bool, shortcut: bool, g: int) -> nn.Module:
        blocks = [DTAB(c, self.window_size, ffn_expansion_factor=self.ffn_expansion_factor)
                  for _ in range(2 if c3k else 1)]
        return nn.Sequential(*blocks) if c3k else blocks[0]


@register_block(channels="scaled", repeats=True, scale_overrides={"lx": {"residual": True, "mlp_ratio": 1.2}})
class A2C2f_DTAB(A2C2f):
    """A2C2f whose every stage is one DTAB, for ``a2=True`` (instead of two ABlocks) and ``a2=False`` (instead of
    a C3k) alike. A DTAB already holds two attention and two FFN sub-layers, the depth of an ABlock pair.

    YAML args as A2C2f ``[c2, a2, area, ...]``. ``area`` is ignored (DTAB's locality is its window). The l/x rule
    applies: ``residual`` adds A2C2f's layer-scaled shortcut (a2 layers); ``mlp_ratio`` sizes A2's 1×1 MLP and has
    no DTAB counterpart, so it is accepted and ignored — the FFN width is ``ffn_expansion_factor`` (TBSN's 1), since
    DTAB's FFN is two 3×3 convs, already ~9× a 1×1 MLP of the same width.
    """

    def __init__(self, c1: int, c2: int, n: int = 1, a2: bool = True, area: int = 1, residual: bool = False,
                 mlp_ratio: float = 2.0, e: float = 0.5, g: int = 1, shortcut: bool = True, window_size: int = 4,
                 ffn_expansion_factor: float = 1.0):
        self.window_size, self.ffn_expansion_factor = window_size, ffn_expansion_factor
        super().__init__(c1, c2, n, a2, area, residual, mlp_ratio, e, g, shortcut)

    def attention_stage(self, c: int, mlp_ratio: float, area: int) -> nn.Module:
        return DTAB(c, self.window_size, ffn_expansion_factor=self.ffn_expansion_factor)

    def conv_stage(self, c: int, shortcut: bool, g: int) -> nn.Module:
        return DTAB(c, self.window_size, ffn_expansion_factor=self.ffn_expansion_factor)
