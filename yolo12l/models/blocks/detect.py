"""Anchor-free detection head with Distribution Focal Loss box regression (YOLOv8/11/12 ``Detect``)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ...ops.anchors import dist2bbox, make_anchors
from ..registry import register_block
from . import onednn
from .conv import Conv, DWConv, is_channels_last
from .fused_conv import eager_inference, pixel_rows
from .precision import autocast_off, output_dtype


class DFL(nn.Module):
    """Expected value of a softmax over ``reg_max`` bins. (B, 4·reg_max, A) → (B, 4, A).

    Kept as a frozen 1×1 conv holding ``arange(reg_max)`` so the state dict matches the reference
    (``…dfl.conv.weight``).
    """

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.reg_max = reg_max
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        if not self.conv.weight.is_meta:  # a meta build (shape checks) has no values; its arange would import dynamo
            self.conv.weight.data[:] = torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        p = x.view(b, 4, self.reg_max, a).transpose(2, 1).softmax(1)  # (B, reg_max, 4, A)
        return nn.functional.conv2d(p, self.conv.weight.to(p.dtype)).view(b, 4, a)  # in p's dtype (float32 decode)

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """The same expectation with the bins last: (B, A, 4·reg_max) → (B, A, 4) (softmax over contiguous bins)."""
        b, a, _ = x.shape
        p = x.view(b, a, 4, self.reg_max).softmax(-1)
        return p @ self.conv.weight.view(self.reg_max, 1).to(p.dtype)  # (B, A, 4, 1)


@register_block(channels="head")
class Detect(nn.Module):
    """Per level: box branch (two 3×3 Convs + 1×1 → 4·reg_max DFL logits) and class branch (two depthwise-separable
    stages + 1×1 → nc logits).

    Train mode: list of per-level maps (B, 4·reg_max + nc, H_i, W_i).
    Eval mode: (B, 4 + nc, A) — xywh boxes in input pixels and class probabilities, anchors P3, P4, P5 row-major;
    float32 whatever the branches computed in (bf16 / fp16 autocast, a ``.half()`` network): the decode runs in
    float32 with autocast off (``precision.py``), so everything downstream (NMS, metrics, plots, JSON) sees float32.
    """

    def __init__(self, nc: int = 80, ch: tuple[int, ...] | list[int] = ()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = 16
        self.no = nc + 4 * self.reg_max
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        c2 = max(16, ch[0] // 4, self.reg_max * 4)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(
                nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                nn.Conv2d(c3, nc, 1),
            )
            for x in ch
        )
        self.dfl = DFL(self.reg_max)
        self.xywh = True
        self._anchor_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None  # (key, points, strides)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        maps = [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]
        if self.training:
            return maps
        return self.decode(maps)

    def fuse(self) -> FusedDetect:
        """The inference module of this head (:class:`FusedDetect`), holding the same submodules and buffers."""
        return FusedDetect.from_head(self)

    def decode_channels_last(self, x: list[torch.Tensor]) -> torch.Tensor:
        """:meth:`decode` of the branches' outputs for channels-last (NHWC) feature maps (the fused network's), in
        anchor-major layout: each branch's last 1×1 convolution is a matrix product over the pixels, whose rows
        are already (anchor, channel), so the per-level maps are never concatenated or transposed; DFL softmax
        and sigmoid run over contiguous rows. Returns the same (B, 4 + nc, A) values, as a transposed view of a
        (B, A, 4 + nc) tensor."""
        b = x[0].shape[0]
        box, cls = [], []
        for i in range(self.nl):
            box.append(_pointwise(self.cv2[i][-1], self.cv2[i][:-1](x[i])).view(b, -1, 4 * self.reg_max))
            cls.append(_pointwise(self.cv3[i][-1], self.cv3[i][:-1](x[i])).view(b, -1, self.nc))
        dtype = output_dtype(box[0])
        points, strides = self.anchors(x, dtype)
        with autocast_off(box[0]):
            dist = self.dfl.forward_last(torch.cat(box, 1).to(dtype)).view(b, -1, 4)  # (B, A, 4)
            boxes = dist2bbox(dist, points, xywh=self.xywh, dim=-1) * strides.view(-1, 1)
            return torch.cat((boxes, torch.cat(cls, 1).to(dtype).sigmoid_()), -1).transpose(1, 2)

    def decode(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Per-level raw maps → (B, 4 + nc, A) boxes in input pixels (xywh, or xyxy if ``self.xywh`` is False) +
        class probabilities."""
        b = maps[0].shape[0]
        dtype = output_dtype(maps[0])
        points, strides = self.anchors(maps, dtype)
        with autocast_off(maps[0]):
            flat = torch.cat([m.view(b, self.no, -1) for m in maps], 2).to(dtype)
            box, cls = flat.split((4 * self.reg_max, self.nc), 1)
            boxes = dist2bbox(self.dfl(box), points, xywh=self.xywh, dim=1)
            return torch.cat((boxes * strides, cls.sigmoid()), 1)

    def anchors(self, maps: list[torch.Tensor], dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchor points (A, 2) in grid units and strides (1, A) for these map sizes, in ``dtype`` (default the
        maps'); rebuilt only when the sizes, device, dtype or ``stride`` change (not cached while tracing, so exported
        graphs stay shape-generic)."""
        dtype = dtype or maps[0].dtype
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            points, strides = make_anchors(maps, self.stride, dtype=dtype)
            return points, strides.T
        # the stride buffer is keyed by identity + storage (no device sync): .to() and assignment replace it,
        # in-place edits bump its version (inference tensors have none, and cannot be edited outside that mode)
        stride = self.stride
        version = None if stride.is_inference() else stride._version
        key = (tuple(m.shape[-2:] for m in maps), maps[0].device, dtype, id(stride), stride.data_ptr(), version)
        cache = self._anchor_cache
        if cache is None or cache[0] != key:
            points, strides = make_anchors(maps, self.stride, dtype=dtype)
            cache = self._anchor_cache = (key, points, strides.T.contiguous())
        return cache[1], cache[2]

    def bias_init(self) -> None:
        """Box logits start at 1.0; class logits at the prior of ~5 objects per 640² image, per level."""
        for a, b, s in zip(self.cv2, self.cv3, self.stride.tolist()):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)


class FusedDetect(Detect):
    """The inference head (what :meth:`Detect.fuse` returns): at eager inference on channels-last maps (the fused
    network's) it decodes anchor-major (:meth:`Detect.decode_channels_last`), otherwise (tracing for export, other
    layouts) as :class:`Detect`. Same (B, 4 + nc, A) values."""

    @classmethod
    def from_head(cls, head: Detect) -> FusedDetect:
        """A FusedDetect sharing ``head``'s submodules, buffers and settings (``head`` is left as it is)."""
        fused = cls.__new__(cls)
        nn.Module.__init__(fused)
        internal = set(vars(fused))
        fused.__dict__.update({k: v for k, v in vars(head).items() if k not in internal})
        for name, child in head.named_children():
            fused.add_module(name, child)
        for name, buffer in head.named_buffers(recurse=False):
            fused.register_buffer(name, buffer, persistent=name not in head._non_persistent_buffers_set)
        return fused.train(head.training)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        if not self.training and eager_inference() and all(is_channels_last(t) for t in x):
            return self.decode_channels_last(x)
        return super().forward(x)


def _pointwise(conv: nn.Conv2d, t: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution (with bias) of a channels-last (B, C1, H, W) map as rows: (B·H·W, C2)."""
    rows = pixel_rows(t)
    weight = conv.weight.reshape(conv.out_channels, conv.in_channels)
    if rows is None:
        rows = t.permute(0, 2, 3, 1).reshape(-1, conv.in_channels)
    if rows.is_contiguous() and onednn.usable(rows, weight):
        return onednn.linear_act(rows, weight, conv.bias, "none")
    return torch.addmm(conv.bias, rows, weight.t()) if conv.bias is not None else rows @ weight.t()
