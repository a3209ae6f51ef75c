"""Export symbolics added by yolo12l.export.symbolics: onnxruntime computes what torch does."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolo12l.export.symbolics import register_export_symbolics

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# direct torch.onnx.export calls: the exporter's own deprecation notices are expected (see yolo12l.export.onnx)
pytestmark = [pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
              pytest.mark.filterwarnings("ignore:The feature will be removed")]


def run_both(module: nn.Module, inputs: tuple[torch.Tensor, ...], path) -> tuple[list[np.ndarray], list]:
    register_export_symbolics()
    names = [f"in{i}" for i in range(len(inputs))]
    torch.onnx.export(module, inputs, str(path), dynamo=False, opset_version=17, input_names=names)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {n: t.numpy() for n, t in zip(names, inputs)})
    with torch.no_grad():
        expected = module(*inputs)
    return got, [e.numpy() for e in (expected if isinstance(expected, tuple) else (expected,))]


class FloorDivide(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor):
        return torch.floor_divide(a, b), a // 3, -(-a // b), torch.floor_divide(a.float(), b)


def test_floor_divide_rounds_toward_minus_infinity(tmp_path):
    a = torch.tensor([-10, -9, -8, -1, 0, 1, 7, 8, 10], dtype=torch.long)
    b = torch.tensor([8, 8, 8, 8, 3, -3, -3, 3, 4], dtype=torch.long)
    got, expected = run_both(FloorDivide(), (a, b), tmp_path / "div.onnx")
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


class PaddedToBlocks(nn.Module):
    """Traced shape arithmetic with ceil division (the local-window attention's pattern)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1]
        return torch.nn.functional.pad(x, (0, (-w) % 8))[..., : -(-w // 8) * 8 - 1]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_traced_ceil_division(tmp_path):
    x = torch.randn(1, 2, 3, 10)
    (got,), (expected,) = run_both(PaddedToBlocks(), (x,), tmp_path / "pad.onnx")
    assert got.shape == expected.shape == (1, 2, 3, 15)
    np.testing.assert_array_equal(got, expected)


class TakeAlongDim(nn.Module):
    def forward(self, x: torch.Tensor, idx: torch.Tensor):
        return torch.take_along_dim(x, idx, dim=-1), torch.take_along_dim(x, idx[..., :2, :7] % 5, dim=3)


def test_take_along_dim_with_broadcast(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 5, 7, generator=g)
    idx = torch.randint(0, 7, (1, 1, 4, 5, 9), generator=g)  # broadcast over the two leading dims
    got, expected = run_both(TakeAlongDim(), (x, idx), tmp_path / "take.onnx")
    for g_, e in zip(got, expected):
        np.testing.assert_array_equal(g_, e)
