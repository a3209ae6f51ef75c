"""Blocks registered outside the package build from YAML; scale rules come from the registry."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from yolo12l import build_model
from yolo12l.models import get_block, register_block, unregister_block
from yolo12l.models.blocks import C3k, Conv


class ScaledGate(nn.Module):
    """A user block: 1×1 conv then a learned sigmoid gate. (B, c1, H, W) → (B, c2, H, W)."""

    def __init__(self, c1: int, c2: int, n: int = 1, bias: float = 0.0):
        super().__init__()
        self.n = n
        self.bias = bias
        self.conv = Conv(c1, c2, 1)
        self.gate = nn.Parameter(torch.zeros(c2))

    def forward(self, x):
        return self.conv(x) * torch.sigmoid(self.gate + self.bias).view(1, -1, 1, 1)


TINY = {
    "nc": 3,
    "scales": {"n": [0.5, 0.25, 1024], "l": [1.0, 1.0, 512]},
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],
        [-1, 1, "Conv", [128, 3, 2]],
        [-1, 4, "ScaledGate", [128]],
        [-1, 1, "Conv", [256, 3, 2]],
        [-1, 1, "Conv", [512, 3, 2]],
    ],
    "head": [[[2, 3, 4], 1, "Detect", ["nc"]]],
}


@pytest.fixture
def user_block():
    register_block("ScaledGate", repeats=True, scale_overrides={"l": {"bias": 1.0}})(ScaledGate)
    yield
    unregister_block("ScaledGate")


def test_user_block_builds_from_yaml(user_block):
    net = build_model(TINY, scale="n")
    gate = net.model[2]
    assert isinstance(gate, ScaledGate)
    assert gate.n == 2 and gate.bias == 0.0  # repeats 4 × depth 0.5, no override at n
    assert gate.conv.conv.out_channels == 32  # 128 × width 0.25
    net.eval()
    y = net(torch.randn(1, 3, 64, 64))
    assert y.shape == (1, 4 + 3, 16 * 16 + 8 * 8 + 4 * 4)  # levels at strides 4, 8, 16
    assert net.stride.tolist() == [4.0, 8.0, 16.0]
    big = build_model(TINY, scale="l")
    assert big.model[2].bias == 1.0 and big.model[2].n == 4


def test_unknown_block_is_a_clear_error():
    cfg = dict(TINY, backbone=[[-1, 1, "NoSuchBlock", [64]]], head=[])
    with pytest.raises(KeyError, match="NoSuchBlock.*register"):
        build_model(cfg, scale="n")


def test_duplicate_registration_refused(user_block):
    with pytest.raises(KeyError, match="already registered"):
        register_block("ScaledGate")(nn.Identity)


def test_yolo12_scale_rules():
    n, m, l = (build_model(f"yolo12{s}.yaml") for s in "nml")
    assert not isinstance(n.model[2].m[0], C3k)
    assert isinstance(m.model[2].m[0], C3k)  # C3k2 → C3k inner blocks for m/l/x
    assert n.model[6].gamma is None and m.model[6].gamma is None
    assert l.model[6].gamma is not None  # A2C2f residual layer scale for l/x
    assert l.model[6].m[0][0].mlp[0].conv.out_channels == int(l.model[6].cv1.conv.out_channels * 1.2)
    assert n.model[6].m[0][0].mlp[0].conv.out_channels == 2 * n.model[6].cv1.conv.out_channels


def test_nn_fallback_and_registered_names():
    assert get_block("nn.Upsample").cls is nn.Upsample
    assert get_block("nn.Identity").channels == "same"
    assert get_block("A2C2f").repeats
