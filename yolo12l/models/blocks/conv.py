"""Convolution building blocks: Conv (conv + BN + SiLU), depthwise Conv, Concat."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..registry import register_block
from . import onednn
from .precision import compute_dtype

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
            act = onednn.activation_name(self.act) if onednn.fuse_convolutions() else None
            if act is not None and self.conv.padding_mode == "zeros" and onednn.usable(x, self.conv.weight):
                return onednn.conv2d_act(x, self.conv, act)  # conv + bias + SiLU in one pass
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def forward_cat(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``self(torch.cat(parts, 1))``. For a fused 1×1 convolution over channels-last inputs at inference the
        concatenation is never built: the output is the sum of one matrix product per part (each part's slice of
        the weight), accumulated in place (``addmm_``), which also reads channel slices (``chunk``) without copies.
        The first product carries the bias (and, when it is the only one, the activation) inside a oneDNN kernel
        where one runs, instead of ``addmm``'s broadcast copy of the bias and a separate SiLU pass.
        In-place products are not autocast: every operand is cast to :func:`~.precision.compute_dtype` (autocast's
        dtype under autocast, e.g. bf16-mixed; the parts' own otherwise, e.g. a ``.half()`` network).
        """
        conv = self.conv
        if not self.pointwise or not _eager_inference():
            return self(torch.cat(parts, 1) if len(parts) > 1 else parts[0])
        dtype = compute_dtype(parts[0])
        parts = [p.to(dtype) for p in parts]  # no-op in plain float32 (or a .half() network)
        rows = [_rows(p) for p in parts]
        if any(r is None for r in rows):
            return self.act(self.conv(torch.cat(parts, 1) if len(parts) > 1 else parts[0]))
        b, _, h, w = parts[0].shape
        weights = self._weight_parts(tuple(r.shape[1] for r in rows), dtype)
        bias = conv.bias.to(dtype)
        act = onednn.activation_name(self.act)
        out, first = None, 0
        if act is not None and rows[0].is_contiguous() and onednn.usable(rows[0], weights[0]):
            out = onednn.linear_act(rows[0], weights[0], bias, act if len(rows) == 1 else "none")
            if len(rows) == 1:
                return out.view(b, h, w, -1).permute(0, 3, 1, 2)
            first = 1
        for r, wp in zip(rows[first:], weights[first:]):
            out = torch.addmm(bias, r, wp.t()) if out is None else out.addmm_(r, wp.t())
        return self.act(out.view(b, h, w, -1).permute(0, 3, 1, 2))

    def _weight_parts(self, sizes: tuple[int, ...], dtype: torch.dtype) -> list[torch.Tensor]:
        """The (c2, c1) weight in ``dtype``, split by input channels into dense (c2, size) blocks, one per part;
        cached per split and dtype (a block a oneDNN kernel reads without re-packing a strided slice; under
        autocast the cast happens once, not per call)."""
        weight = self.conv.weight
        cache = self.__dict__.setdefault("_weight_cache", {})
        version = None if weight.is_inference() else weight._version
        key = (sizes, weight.data_ptr(), weight.device, weight.dtype, version, dtype)
        if key not in cache:
            cache.clear()
            w2 = weight.detach().reshape(self.conv.out_channels, self.conv.in_channels).to(dtype)
            cache[key] = list(w2.split(list(sizes), 1)) if len(sizes) == 1 else [
                p.contiguous() for p in w2.split(list(sizes), 1)]
        return cache[key]

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
    """Concatenates a list of tensors along ``dimension`` (channels by default).

    ``pass_parts`` (set by :meth:`DetectionNetwork.fuse` when the next layer alone reads the result and takes
    parts, ``takes_parts``): at eager inference the list is passed on unconcatenated, and the next layer's first
    1×1 convolution reads the parts in place (:meth:`Conv.forward_cat`) — the concatenation is never copied.
    """

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension
        self.pass_parts = False

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        if self.pass_parts and self.d == 1 and _eager_inference():
            return list(x)
        return torch.cat(x, self.d)


def cat_parts(x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """A layer's input as one tensor: a list of channel parts (from a ``pass_parts`` Concat) concatenated."""
    return torch.cat(x, 1) if isinstance(x, list) else x


register_block("nn.Upsample", channels="same")(nn.Upsample)
