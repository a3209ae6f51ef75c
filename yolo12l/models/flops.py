"""FLOPs of a network forward, counted by ``torch.utils.flop_counter.FlopCounterMode`` (no hand-written counter).

What is counted: torch's registered FLOP formulas, i.e. 2 x multiply-accumulates of convolutions (``aten.convolution``,
bias not counted) and of matrix products (``aten.mm`` / ``bmm`` / ``addmm`` / ``baddbmm`` and the fused
scaled-dot-product-attention kernels): in YOLO12 the convolutions plus the attention's ``q·k`` and ``attn·v``
products. Element-wise work (BatchNorm, activations, softmax, additions, upsampling) is not counted.

Ultralytics' ``GFLOPs`` (thop, x2) additionally counts BatchNorm (8 FLOPs per element) and conv biases, and so is a
little higher (yolo12n at 640: 7.47 here vs 7.63; the paper's 6.5 is the convolutions alone, 6.49 here).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

# op-name prefixes (``str(aten op)``) per reported group
_GROUPS = {"convolution": ("aten.convolution", "aten._convolution", "aten.conv"),
           "matmul": ("aten.mm", "aten.bmm", "aten.addmm", "aten.baddbmm", "aten._scaled_dot_product",
                      "aten.scaled_dot_product")}


@dataclass
class FlopCount:
    """FLOPs of one forward at ``shape`` (B, C, H, W): ``total``, per aten op (``by_op``), per group
    (``convolution``, ``matmul``, ``other``) and per top-level layer index (``by_layer``, for ``model.<i>``)."""

    shape: tuple[int, ...]
    total: int
    by_op: dict[str, int] = field(default_factory=dict)
    by_group: dict[str, int] = field(default_factory=dict)
    by_layer: dict[int, int] = field(default_factory=dict)

    @property
    def gflops(self) -> float:
        return self.total / 1e9


def to_meta(net: nn.Module) -> nn.Module:
    """Moves ``net`` in place to the ``meta`` device (shapes only, no memory, no compute: counting FLOPs of any size
    is instant) except the ``stride`` buffers, which the head reads as numbers. Returns ``net``."""
    strides = {m: m.stride.clone() for m in net.modules() if isinstance(m._buffers.get("stride"), torch.Tensor)}
    net.to("meta")
    for m, stride in strides.items():
        m.stride = stride
    return net


def count_flops(net: nn.Module, imgsz: int | tuple[int, int] = 640, batch: int = 1, channels: int = 3) -> FlopCount:
    """FLOPs of ``net`` (eval mode, no grad) on a zero input (batch, channels, H, W); the mode is restored."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    p = next(net.parameters(), None)  # the input goes where the parameters are (``meta``: see :func:`to_meta`)
    x = torch.zeros(batch, channels, h, w, device=p.device if p is not None else None,
                    dtype=p.dtype if p is not None else None)
    was_training = net.training
    net.eval()
    counter = FlopCounterMode(display=False, depth=2)
    try:
        with torch.no_grad(), counter:
            net(x)
    finally:
        net.train(was_training)
    counts = counter.get_flop_counts()
    by_op = {str(op): int(v) for op, v in counts.get("Global", {}).items()}
    by_group = {"convolution": 0, "matmul": 0, "other": 0}
    for op, v in by_op.items():
        group = next((g for g, prefixes in _GROUPS.items() if op.startswith(prefixes)), "other")
        by_group[group] += v
    by_layer = {}
    for name, ops in counts.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[1] == "model" and parts[2].isdigit():
            by_layer[int(parts[2])] = int(sum(ops.values()))
    return FlopCount((batch, channels, h, w), int(counter.get_total_flops()), by_op, by_group, by_layer)
