"""Halo blocks: HaloConv as a YAML downsampling layer, HaloBlock, A2C2f_Halo / C3k2_Halo structure and scale rules,
a user-defined Halo variant built from YAML. (Equality with dense attention: test_local_window.py.)"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from yolo12l import build_model
from yolo12l.models import get_block, load_model_yaml, register_block, unregister_block
from yolo12l.models.blocks import A2C2f_Halo, C3k, C3k2_Halo, HaloAttention, HaloBlock, HaloConv


pytestmark = pytest.mark.usefixtures("one_thread")


def _finite_backward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.square().mean().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters() if p.requires_grad)
    return y


def test_head_rule():
    assert HaloAttention(64).num_heads == 2 and HaloAttention(64).head_dim == 32
    assert HaloAttention(16).num_heads == 1 and HaloAttention(16).head_dim == 16  # n-scale stem widths
    assert HaloAttention(96, 80).num_heads == 2 and HaloAttention(96, 80).head_dim == 40
    with pytest.raises(ValueError, match="heads"):
        HaloAttention(8, num_heads=16)


@pytest.mark.parametrize("hw", [(16, 16), (13, 9), (3, 5)])
def test_halo_conv_downsamples_like_a_stride_2_conv(hw):
    m = HaloConv(32, 64)  # block 8, halo 3, stride 2
    x = torch.randn(2, 32, *hw)
    conv = nn.Conv2d(32, 64, 3, 2, 1)
    y = _finite_backward(m, x)
    assert y.shape == conv(x).shape


def test_halo_conv_in_yaml_replaces_downsampling_convs():
    cfg, _ = load_model_yaml("yolo12.yaml")
    cfg = copy.deepcopy(cfg)
    for i in (5, 7):  # the P4 and P5 downsampling layers
        assert cfg["backbone"][i][2] == "Conv"
        cfg["backbone"][i][2:] = ["HaloConv", [cfg["backbone"][i][3][0], 8, 3, 2]]
    net = build_model(cfg, scale="n", nc=3)
    assert isinstance(net.model[5], HaloConv) and isinstance(net.model[7], HaloConv)
    assert net.model[7].attn.proj.conv.out_channels == 256  # 1024 × width 0.25
    assert net.stride.tolist() == [8.0, 16.0, 32.0]
    net.train()
    maps = net(torch.rand(1, 3, 128, 224))  # rectangular, P5 = 4×7
    assert [m.shape[-2:] for m in maps] == [(16, 28), (8, 14), (4, 7)]
    sum(m.square().mean() for m in maps).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_halo_block_is_residual_and_any_size():
    block = HaloBlock(64, 2, mlp_ratio=1.2)
    assert block.mlp[0].conv.out_channels == int(64 * 1.2)
    y = _finite_backward(block, torch.randn(2, 64, 11, 6))
    assert y.shape == (2, 64, 11, 6)


def test_a2c2f_halo_stages_and_scale_rules():
    n, l = build_model("yolo12n-halo.yaml"), build_model("yolo12l-halo.yaml")
    for net in (n, l):
        for i in (6, 8, 11, 14, 17):
            assert type(net.model[i]) is A2C2f_Halo
        stage = net.model[6].m[0]
        assert len(stage) == 2 and all(isinstance(b, HaloBlock) for b in stage)
        c = net.model[6].cv1.conv.out_channels
        assert stage[0].attn.num_heads == c // 32 and stage[0].attn.attn.block == 8 and stage[0].attn.attn.halo == 3
        assert isinstance(net.model[11].m[0], C3k)  # a2=False stages stay C3k, as in A2C2f
    assert n.model[6].gamma is None and l.model[6].gamma is not None  # l/x residual layer scale
    c = l.model[6].cv1.conv.out_channels
    assert l.model[6].m[0][0].mlp[0].conv.out_channels == int(c * 1.2)  # l/x mlp_ratio 1.2
    assert n.model[6].m[0][0].mlp[0].conv.out_channels == 2 * n.model[6].cv1.conv.out_channels


def test_c3k2_halo_inner_blocks():
    assert get_block("C3k2_Halo").overrides_for("m") == {"c3k": True}
    assert get_block("C3k2_Halo").overrides_for("s") == {}
    one = C3k2_Halo(64, 64, n=2, c3k=False)
    assert all(isinstance(m, HaloBlock) for m in one.m) and len(one.m) == 2
    two = C3k2_Halo(64, 128, n=1, c3k=True, block_size=4, halo_size=1)
    assert isinstance(two.m[0], nn.Sequential) and len(two.m[0]) == 2
    assert two.m[0][0].attn.attn.block == 4
    y = _finite_backward(two, torch.randn(1, 64, 9, 13))
    assert y.shape == (1, 128, 9, 13)


class A2C2f_Halo4(A2C2f_Halo):
    """A user variant: Halo stages with 4×4 blocks and halo 1, registered from this test file only."""

    def __init__(self, c1: int, c2: int, n: int = 1, a2: bool = True, area: int = 1, residual: bool = False,
                 mlp_ratio: float = 2.0):
        super().__init__(c1, c2, n, a2, area, residual, mlp_ratio, block_size=4, halo_size=1)


@pytest.fixture
def user_halo():
    register_block("A2C2f_Halo4", repeats=True, scale_overrides={"lx": {"residual": True, "mlp_ratio": 1.2}})(
        A2C2f_Halo4)
    yield
    unregister_block("A2C2f_Halo4")


def test_user_halo_variant_builds_from_yaml(user_halo):
    cfg = {
        "nc": 2,
        "scales": {"n": [0.5, 0.25, 1024], "l": [1.0, 1.0, 512]},
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],
            [-1, 1, "Conv", [128, 3, 2]],
            [-1, 1, "Conv", [256, 3, 2]],
            [-1, 4, "A2C2f_Halo4", [256, True, 4]],
            [-1, 1, "Conv", [256, 3, 2]],
        ],
        "head": [[[3, 4], 1, "Detect", ["nc"]]],
    }
    n = build_model(cfg, scale="n")
    layer = n.model[3]
    assert type(layer) is A2C2f_Halo4 and len(layer.m) == 2 and layer.gamma is None
    assert layer.m[0][0].attn.attn.block == 4 and layer.m[0][0].attn.attn.halo == 1
    assert build_model(cfg, scale="l").model[3].gamma is not None
    n.eval()
    with torch.no_grad():
        y = n(torch.rand(1, 3, 48, 80))
    assert y.shape == (1, 4 + 2, 6 * 10 + 3 * 5) and torch.isfinite(y).all()
