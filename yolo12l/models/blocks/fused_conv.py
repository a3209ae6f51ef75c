"""The inference module of :class:`~.conv.Conv` (what ``Conv.fuse()`` returns): a biased convolution (the BatchNorm
folded in) followed by the activation, with the fast CPU paths — oneDNN conv + bias + SiLU in one kernel, and 1×1
convolutions as matrix products over channels-last pixels that read concatenated parts in place."""
from __future__ import annotations

import torch
import torch.nn as nn

from . import onednn
from .precision import compute_dtype


def eager_inference() -> bool:
    """No autograd graph recorded and no tracing (ONNX / TorchScript export): the in-place and strided-view
    inference paths may run."""
    return not torch.is_grad_enabled() and not torch.jit.is_tracing()


def pixel_rows(t: torch.Tensor) -> torch.Tensor | None:
    """A channels-last (B, C, H, W) tensor (or a channel slice of one) as a (B·H·W, C) matrix view, else None."""
    b, c, h, w = t.shape
    sb, sc, sh, sw = t.stride()
    if sc != 1 or sw < c or (h > 1 and sh != w * sw) or (b > 1 and sb != h * w * sw):
        return None
    return t.as_strided((b * h * w, c), (sw, 1))


class FusedConv(nn.Module):
    """conv (with bias) → activation; inference only. (B, c1, H, W) → (B, c2, H/s, W/s)."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module):
        super().__init__()
        self.conv = conv
        self.act = nn.SiLU(inplace=True) if type(act) is nn.SiLU else act
        c = conv  # a plain 1×1 convolution is a matrix product over channels-last pixels (forward_cat)
        self.pointwise = (c.kernel_size == (1, 1) and c.stride == (1, 1) and c.groups == 1 and c.padding == (0, 0)
                          and c.dilation == (1, 1) and c.padding_mode == "zeros")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pointwise and eager_inference():
            return self.forward_cat([x])
        act = onednn.activation_name(self.act) if onednn.fuse_convolutions() else None
        if act is not None and self.conv.padding_mode == "zeros" and onednn.usable(x, self.conv.weight):
            return onednn.conv2d_act(x, self.conv, act)  # conv + bias + SiLU in one pass
        return self.act(self.conv(x))

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
        if not self.pointwise or not eager_inference():
            return self(torch.cat(parts, 1) if len(parts) > 1 else parts[0])
        dtype = compute_dtype(parts[0])
        parts = [p.to(dtype) for p in parts]  # no-op in plain float32 (or a .half() network)
        rows = [pixel_rows(p) for p in parts]
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
        autocast the cast happens once, not per call). Safe when threads share the network (sliced inference's
        workers): each call returns the parts it found or made, never a cache entry another thread cleared."""
        weight = self.conv.weight
        cache = self.__dict__.setdefault("_weight_cache", {})
        version = None if weight.is_inference() else weight._version
        key = (sizes, weight.data_ptr(), weight.device, weight.dtype, version, dtype)
        parts = cache.get(key)
        if parts is None:
            w2 = weight.detach().reshape(self.conv.out_channels, self.conv.in_channels).to(dtype)
            parts = list(w2.split(list(sizes), 1)) if len(sizes) == 1 else [
                p.contiguous() for p in w2.split(list(sizes), 1)]
            cache.clear()
            cache[key] = parts
        return parts
