"""Convolution building blocks: Conv (conv + BN + SiLU), depthwise Conv, Concat."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..registry import register_block

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
    if torch.is_grad_enabled() or y.shape != torch.broadcast_shapes(y.shape, x.shape):
        return y + x
    return y.add_(x)


def _eager_inference() -> bool:
    """No autograd graph recorded and no tracing (ONNX / TorchScript export): the in-place and strided-view
    inference paths may run."""
    return not torch.is_grad_enabled() and not torch.jit.is_tracing()


def is_channels_last(t: torch.Tensor) -> bool:
    """A 4-D tensor stored channels-last (NHWC) and not also plain contiguous (as a fused network's maps are)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _rows(t: torch.Tensor) -> torch.Tensor | None:
    """A channels-last (B, C, H, W) tensor (or a channel slice of one) as a (B·H·W, C) matrix view, else None."""
    b, c, h, w = t.shape
    sb, sc, sh, sw = t.stride()
    if sc != 1 or sw < c or (h > 1 and sh != w * sw) or (b > 1 and sb != h * w * sw):
        return None
    return t.as_strided((b * h * w, c), (sw, 1))


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
        self.pointwise = False  # set by fuse()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:  # fused
            if self.pointwise and _eager_inference():
                return self.forward_cat([x])
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def forward_cat(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``self(torch.cat(parts, 1))``. For a fused 1×1 convolution over channels-last inputs at inference the
        concatenation is never built: the output is the sum of one matrix product per part (each part's slice of
        the weight), accumulated in place (``addmm``), which also reads channel slices (``chunk``) without copies.
        """
        conv = self.conv
        if not self.pointwise or not _eager_inference():
            return self(torch.cat(parts, 1) if len(parts) > 1 else parts[0])
        rows = [_rows(p) for p in parts]
        if any(r is None for r in rows):
            return self.act(self.conv(torch.cat(parts, 1) if len(parts) > 1 else parts[0]))
        b, _, h, w = parts[0].shape
        weight = conv.weight.view(conv.out_channels, conv.in_channels)
        out, start = None, 0
        for r in rows:
            wt = weight[:, start:start + r.shape[1]].t()
            start += r.shape[1]
            out = torch.addmm(conv.bias, r, wt) if out is None else out.addmm_(r, wt)
        return self.act(out.view(b, h, w, -1).permute(0, 3, 1, 2))

    def fuse(self) -> Conv:
        """Folds the BatchNorm (its running statistics) into the convolution and makes the SiLU in-place (it only
        ever sees the fresh conv output); inference only."""
        if self.bn is not None:
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = None
        c = self.conv
        # a plain 1×1 convolution is a matrix product over channels-last pixels (forward_cat)
        self.pointwise = (c.kernel_size == (1, 1) and c.stride == (1, 1) and c.groups == 1 and c.padding == (0, 0)
                          and c.dilation == (1, 1) and c.padding_mode == "zeros")
        if type(self.act) is nn.SiLU:
            self.act = nn.SiLU(inplace=True)
        return self


@register_block(channels="scaled")
class DWConv(Conv):
    """Depthwise-style Conv: groups = gcd(c1, c2)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool | nn.Module = True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


@register_block(channels="sum")
class Concat(nn.Module):
    """Concatenates a list of tensors along ``dimension`` (channels by default)."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


register_block("nn.Upsample", channels="same")(nn.Upsample)
