"""oneDNN fused inference kernels for the fused network on CPU: convolution or matrix product + bias + SiLU in one
pass over the output.

PyTorch's CPU build ships the oneDNN primitives that ``torch.compile`` (inductor) uses for these fusions,
``torch.ops.mkldnn._convolution_pointwise`` and ``torch.ops.mkldnn._linear_pointwise``; eager code runs the same
ops without compiling. Unfused, a Conv at inference is three passes over its output (the convolution or GEMM, the
bias broadcast that ``addmm`` copies in first, the SiLU), each a parallel region of its own; fused it is one.
``usable`` is False where the op cannot run (a build without oneDNN, a non-CPU or non-float32 tensor, autograd,
tracing or CPU autocast), and the caller takes its plain path — the results agree to float rounding.
"""
from __future__ import annotations

import torch
import torch.nn as nn

_OPS = getattr(torch.ops, "mkldnn", None)
AVAILABLE = (torch.backends.mkldnn.is_available() and _OPS is not None
             and hasattr(_OPS, "_convolution_pointwise") and hasattr(_OPS, "_linear_pointwise"))


def activation_name(act: nn.Module) -> str | None:
    """The oneDNN post-op name of ``act`` ("swish" for SiLU, "none" for identity), or None if it has none here."""
    if isinstance(act, nn.SiLU):
        return "swish"
    if isinstance(act, nn.Identity):
        return "none"
    return None


def usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Eager float32 CPU inference on both tensors (no autograd graph, no tracing), CPU autocast off (under
    autocast the op must compute in autocast's dtype, as the plain path does)."""
    return (AVAILABLE and x.device.type == "cpu" and weight.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not torch.is_grad_enabled() and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling() and not torch.is_autocast_enabled("cpu"))


def fuse_convolutions() -> bool:
    """Whether k×k convolutions take the fused kernel: with more than one torch thread. Measured on 2 shared cores
    (yolo12n, 640², ``benchmarks/bench_inference.py``): at 2 threads, fewer parallel regions per layer cut the
    forward's time by a third when other processes hold the cores; at 1 thread the fused convolution was 4 % slower
    than ``conv2d`` + in-place SiLU, so there the plain path runs (the 1×1 ``linear_act`` pays off at both)."""
    return torch.get_num_threads() > 1


def conv2d_act(x: torch.Tensor, conv: nn.Conv2d, act: str) -> torch.Tensor:
    """``act(conv(x))`` for (B, C1, H, W) → (B, C2, H', W'), one oneDNN primitive (the layout follows the weights':
    channels-last weights give a channels-last output). ``conv`` must use zero padding."""
    return _OPS._convolution_pointwise(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
                                       list(conv.dilation), conv.groups, act, [], "")


def linear_act(rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, act: str) -> torch.Tensor:
    """``act(rows @ weight.T + bias)``: rows (N, K) dense, weight (M, K) dense → (N, M), one oneDNN primitive."""
    return _OPS._linear_pointwise(rows, weight, bias, act, [], "")
