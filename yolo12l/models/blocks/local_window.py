"""Blocked local attention with a halo: the windowing core shared by HaloAttention and DilatedOCA.

Geometry (HaloNet, arXiv 2103.12731): the map is cut into non-overlapping ``b×b`` query blocks; the block whose
top-left pixel is (Y, X) attends to the ``K×K`` key window (K = b + 2h) with top-left pixel (Y − h, X − h).
With ``stride`` s the queries are the pixels (s·i, s·j) (s divides b), each block holding (b/s)² of them, while keys
stay at full resolution; the output is (ceil(H/s), ceil(W/s)) like a stride-s 'same' convolution.

Relative positions: a query at (y, x) and a key at (y + Δy, x + Δx) get the logit term
``q·rel_h[Δy + b + h − 1] + q·rel_w[Δx + b + h − 1]`` (Δ ∈ [−(b+h−1), b+h−1], tables of 2(b+h)−1 rows of head_dim,
shared by all heads), with q already multiplied by the softmax scale d^−½.

Any map size: the key map is zero-padded to a multiple of b plus h on every side and unfolded; a key-validity mask
built by unfolding a ones-map the same way removes every padded key (logit −inf). A real query always sees itself,
so no real query's softmax row is empty; padded queries (also never empty: each block holds a real pixel) are cropped.

``dilation`` d > 1 adds a fixed mask that keeps only keys with Δy ≡ 0 and Δx ≡ 0 (mod d), see :class:`DilatedOCA`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

#: Logit added to keys removed by the fixed dilation mask; finite so the buffer stays finite in fp16/bf16.
MASKED_LOGIT = -1e4


class LocalWindowAttention(nn.Module):
    """Multi-head blocked local attention on projected maps.

    ``forward(q, k, v)``: q (B, heads·d, ceil(H/s), ceil(W/s)) — the queries already subsampled by the stride —,
    k, v (B, heads·d, H, W) → (B, heads·d, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, num_heads: int, head_dim: int, block_size: int, halo_size: int, stride: int = 1,
                 dilation: int = 1):
        super().__init__()
        if block_size < 1 or halo_size < 0:
            raise ValueError(f"need block_size ≥ 1 and halo_size ≥ 0, got {block_size}, {halo_size}")
        if stride < 1 or block_size % stride:
            raise ValueError(f"stride {stride} must divide block_size {block_size}")
        if dilation < 1:
            raise ValueError(f"dilation must be ≥ 1, got {dilation}")
        self.num_heads, self.head_dim = num_heads, head_dim
        self.block, self.halo, self.stride, self.dilation = block_size, halo_size, stride, dilation
        self.window = block_size + 2 * halo_size
        self.scale = head_dim**-0.5
        n_rel = 2 * (block_size + halo_size) - 1
        self.rel_h = nn.Parameter(torch.randn(n_rel, head_dim) * self.scale)
        self.rel_w = nn.Parameter(torch.randn(n_rel, head_dim) * self.scale)
        # table row of each (query row in the block, key row in the window); the same for columns
        qpos = torch.arange(0, block_size, stride)
        delta = torch.arange(self.window)[None, :] - halo_size - qpos[:, None]  # (b/s, K)
        self.register_buffer("rel_index", delta + block_size + halo_size - 1, persistent=False)
        if dilation > 1:
            keep = (delta % dilation == 0)
            keep2d = keep[:, None, :, None] & keep[None, :, None, :]  # (qy, qx, ky, kx)
            bias = torch.zeros(keep2d.shape).masked_fill(~keep2d, MASKED_LOGIT)
            self.register_buffer("dilation_bias", bias.reshape(len(qpos) ** 2, self.window**2), persistent=False)
        else:
            self.dilation_bias = None

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Output map size for an (h, w) input."""
        return -(-h // self.stride), -(-w // self.stride)

    def _pads(self, h: int, w: int) -> tuple[int, int]:
        b = self.block
        return (-h) % b, (-w) % b

    def windows(self, t: torch.Tensor, pad_value: float = 0.0) -> torch.Tensor:
        """Key/value map (B, C, H, W) → (B, L, K², C) windows, L = ceil(H/b)·ceil(W/b) in row-major block order."""
        ph, pw = self._pads(*t.shape[-2:])
        h = self.halo
        t = F.pad(t, (h, h + pw, h, h + ph), value=pad_value)
        cols = F.unfold(t, kernel_size=self.window, stride=self.block)  # (B, C·K², L)
        return rearrange(cols, "b (c j) l -> b l j c", c=t.shape[1])

    def query_blocks(self, q: torch.Tensor, pad_value: float = 0.0) -> torch.Tensor:
        """Query map (B, C, Hq, Wq) → (B, L, (b/s)², C)."""
        bq = self.block // self.stride
        q = F.pad(q, (0, (-q.shape[-1]) % bq, 0, (-q.shape[-2]) % bq), value=pad_value)
        return rearrange(q, "b c (y p) (x r) -> b (y x) (p r) c", p=bq, r=bq)

    def key_validity(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        """(L, K²) bool: True where the window slot holds a real pixel of the (h, w) map."""
        return self.windows(torch.ones(1, 1, h, w, device=device))[0, :, :, 0] > 0.5

    def bias(self, q: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Additive logits for q (B, L, heads, Q, d) already scaled: relative positions, dilation, padding.

        Returns (B, L, heads, Q, K²) with −inf on padded keys."""
        bq, K = self.rel_index.shape
        qh = q.unflatten(-2, (bq, bq))  # (..., qy, qx, d)
        rh = torch.einsum("...yxd,rd->...yxr", qh, self.rel_h.to(q.dtype))
        rw = torch.einsum("...yxd,rd->...yxr", qh, self.rel_w.to(q.dtype))
        lead = (1,) * (rh.ndim - 3)
        rh = torch.take_along_dim(rh, self.rel_index.view(*lead, bq, 1, K), dim=-1)  # (..., qy, qx, ky)
        rw = torch.take_along_dim(rw, self.rel_index.view(*lead, 1, bq, K), dim=-1)  # (..., qy, qx, kx)
        logits = (rh[..., :, None] + rw[..., None, :]).flatten(-4, -3).flatten(-2)  # (..., Q, K²)
        if self.dilation_bias is not None:
            logits = logits + self.dilation_bias.to(logits.dtype)
        return logits.masked_fill(~valid[None, :, None, None, :], float("-inf"))

    def _prepare(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pad_value: float):
        B, _, H, W = k.shape
        if q.shape[-2:] != self.out_size(H, W):
            raise ValueError(f"queries {tuple(q.shape[-2:])} do not match keys {(H, W)} at stride {self.stride}")
        split = "b l n (h d) -> b l h n d"
        qb = rearrange(self.query_blocks(q, pad_value), split, h=self.num_heads) * self.scale
        kw = rearrange(self.windows(k, pad_value), split, h=self.num_heads)
        vw = rearrange(self.windows(v, pad_value), split, h=self.num_heads)
        bias = self.bias(qb, self.key_validity(H, W, k.device))
        return qb, kw, vw, bias

    def _merge(self, out: torch.Tensor, hq: int, wq: int) -> torch.Tensor:
        """(B, L, heads, Q, d) → (B, heads·d, hq, wq), dropping padded queries."""
        bq = self.block // self.stride
        nx = -(-wq // bq)
        out = rearrange(out, "b (y x) h (p r) d -> b (h d) (y p) (x r)", x=nx, p=bq)
        return out[..., :hq, :wq]

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pad_value: float = 0.0) -> torch.Tensor:
        """``pad_value`` fills the padded map regions; the result does not depend on it (tests check this)."""
        qb, kw, vw, bias = self._prepare(q, k, v, pad_value)
        B, L, nh, Q, d = qb.shape
        flat = lambda t: t.reshape(B * L, nh, t.shape[-2], t.shape[-1])  # noqa: E731  (fused kernels want 4-D)
        out = F.scaled_dot_product_attention(flat(qb), flat(kw), flat(vw), attn_mask=flat(bias).to(qb.dtype),
                                             scale=1.0)
        return self._merge(out.view(B, L, nh, Q, d), *q.shape[-2:])

    def forward_explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as an explicit softmax; also returns the weights (B, L, heads, Q, K²) (tests, reading)."""
        qb, kw, vw, bias = self._prepare(q, k, v, pad_value)
        attn = (qb @ kw.transpose(-2, -1) + bias).softmax(-1)
        return self._merge(attn @ vw, *q.shape[-2:]), attn


def heads_for(dim: int, head_dim: int = 32) -> int:
    """YOLO12's head rule: one head per ``head_dim`` channels, at least one."""
    return max(dim // head_dim, 1)


def channel_heads(dim: int, wanted: int) -> int:
    """The largest head count ≤ ``wanted`` that divides ``dim`` (gcd), so channel groups are equal."""
    return math.gcd(dim, wanted)
