"""Convolution building blocks: Conv (conv + BN + SiLU), depthwise Conv, Concat."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..registry import register_block
from .fused_conv import FusedConv, eager_inference

BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'Same' padding for an odd kernel ``k`` with dilation ``d`` (stride 1)."""
    if p is not None:
        return p
    k = d * (k - 1) + 1 if d > 1 else k
    return k // 2


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to ``bn(conv(x))`` in eval mode: W' = W·γ/σ, b' = β + (b − μ)·γ/σ with
    σ = sqrt(running_var + eps). Computed in float64, stored in the conv's dtype."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode,
                      device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        w = conv.weight.double()
        b = conv.bias.double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64,
                                                                         device=w.device)
        gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(b)
        beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(b)
        scale = gamma / (bn.running_var.double() + bn.eps).sqrt()
        fused.weight.copy_(w * scale.view(-1, 1, 1, 1))
        fused.bias.copy_(beta + (b - bn.running_mean.double()) * scale)
    return fused.requires_grad_(False)


def add_into(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y + x``, written into ``y`` when no autograd graph is recorded (inference). ``y`` must be a fresh result
    that nothing else holds (a block's output), never a tensor the caller passed in."""
    if torch.is_grad_enabled() or not _broadcasts_to(x.shape, y.shape):
        return y + x
    return y.add_(x)


def _broadcasts_to(src: torch.Size, dst: torch.Size) -> bool:
    """Whether ``src`` broadcasts to exactly ``dst`` (plain Python: ``torch.broadcast_shapes`` imports sympy on its
    first call, a second of start-up)."""
    return len(src) <= len(dst) and all(a == 1 or a == b for a, b in zip(reversed(src), reversed(dst)))


def is_channels_last(t: torch.Tensor) -> bool:
    """A 4-D tensor stored channels-last (NHWC) and not also plain contiguous (as a fused network's maps are)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def batch_norm(c: int) -> nn.BatchNorm2d:
    """BatchNorm with the reference's eps 1e-3 and momentum 0.03."""
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


@register_block(channels="scaled")
class Conv(nn.Module):
    """Conv2d (no bias) → BatchNorm → SiLU. (B, c1, H, W) → (B, c2, H/s, W/s)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1,
                 act: bool | nn.Module = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = batch_norm(c2)
        self.act = nn.SiLU() if act is True else act if isinstance(act, nn.Module) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def forward_cat(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``self(torch.cat(parts, 1))`` (the fused module, :class:`~.fused_conv.FusedConv`, reads the parts in
        place)."""
        return self(torch.cat(parts, 1) if len(parts) > 1 else parts[0])

    def fuse(self) -> FusedConv:
        """The inference module of this block: the BatchNorm (its running statistics) folded into the convolution,
        the SiLU in-place (it only ever sees the fresh conv output). ``self`` is left as it is."""
        return FusedConv(fuse_conv_bn(self.conv, self.bn), self.act)


@register_block(channels="scaled")
class DWConv(Conv):
    """Depthwise-style Conv: groups = gcd(c1, c2)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool | nn.Module = True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


@register_block(channels="sum")
class Concat(nn.Module):
    """Concatenates a list of tensors along ``dimension`` (channels by default).

    ``pass_parts`` (set by :meth:`DetectionNetwork.fuse` when the next layer alone reads the result and takes
    parts, ``takes_parts``): at eager inference the list is passed on unconcatenated, and the next layer's first
    1×1 convolution reads the parts in place (:meth:`~.fused_conv.FusedConv.forward_cat`) — the concatenation is
    never copied.
    """

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension
        self.pass_parts = False

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        if self.pass_parts and self.d == 1 and eager_inference():
            return list(x)
        return torch.cat(x, self.d)


def cat_parts(x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """A layer's input as one tensor: a list of channel parts (from a ``pass_parts`` Concat) concatenated."""
    return torch.cat(x, 1) if isinstance(x, list) else x


register_block("nn.Upsample", channels="same")(nn.Upsample)
