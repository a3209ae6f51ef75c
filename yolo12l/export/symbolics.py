"""ONNX symbolics the TorchScript exporter lacks, registered while exporting.

* ``aten::floor_divide`` / ``aten::floordiv`` on integers → floor division (rounding toward −inf, Python's ``//``).
  The built-in symbolic truncates toward zero, so traced shape arithmetic such as ``-(-w // b)`` (ceil division, used
  by the local-window attention to pad maps to whole blocks) came out wrong whenever padding was needed.
* ``aten::take_along_dim(input, indices, dim)`` (used by the Halo / dilated local-window attention for its relative
  position tables) → ``GatherElements`` on ``input`` and ``indices`` both expanded to their broadcast shape (the
  ``dim`` axis keeping each one's own length), which is what ``take_along_dim`` computes.
"""
from __future__ import annotations

import torch
from torch.onnx import symbolic_helper

__all__ = ["register_export_symbolics"]

_OPSET = 17  # registered for this opset; the exporter uses it for every later opset too
_registered = False


@symbolic_helper.parse_args("v", "v", "i")
def _take_along_dim(g, data, indices, dim):
    rank = symbolic_helper._get_tensor_rank(data)
    if rank is None or symbolic_helper._get_tensor_rank(indices) != rank:
        raise RuntimeError("take_along_dim export needs inputs of known, equal rank")
    dim = dim % rank
    data_shape = g.op("Shape", data)
    index_shape = g.op("Shape", indices)
    common = g.op("Max", data_shape, index_shape)  # broadcast shape: the other is 1 wherever they differ
    axis_only = g.op("Constant", value_t=torch.tensor([i == dim for i in range(rank)]))
    data = g.op("Expand", data, g.op("Where", axis_only, data_shape, common))
    indices = g.op("Expand", indices, g.op("Where", axis_only, index_shape, common))
    return g.op("GatherElements", data, indices, axis_i=dim)


def _floor_divide(g, a, b):
    if symbolic_helper._is_fp(a) or symbolic_helper._is_fp(b):
        if not symbolic_helper._is_fp(a):
            a = g.op("Cast", a, to_i=symbolic_helper.cast_pytorch_to_onnx["Float"])
        if not symbolic_helper._is_fp(b):
            b = g.op("Cast", b, to_i=symbolic_helper.cast_pytorch_to_onnx["Float"])
        return g.op("Floor", g.op("Div", a, b))
    quotient = g.op("Div", a, b)  # integer Div truncates toward zero
    zero = g.op("Constant", value_t=torch.tensor(0, dtype=torch.int64))
    inexact = g.op("Not", g.op("Equal", g.op("Mod", a, b, fmod_i=0), zero))
    negative = g.op("Xor", g.op("Less", a, zero), g.op("Less", b, zero))
    one = g.op("Constant", value_t=torch.tensor(1, dtype=torch.int64))
    return g.op("Where", g.op("And", inexact, negative), g.op("Sub", quotient, one), quotient)


def register_export_symbolics() -> None:
    """Registers the symbolics above with ``torch.onnx`` (idempotent)."""
    global _registered
    if not _registered:
        torch.onnx.register_custom_op_symbolic("aten::take_along_dim", _take_along_dim, _OPSET)
        for name in ("aten::floor_divide", "aten::floordiv"):
            torch.onnx.register_custom_op_symbolic(name, _floor_divide, _OPSET)
        _registered = True
