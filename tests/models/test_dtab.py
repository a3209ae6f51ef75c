"""DTAB parts against explicit references: channel LayerNorm, grouped channel attention, FFN; the block order;
C3k2_DTAB / A2C2f_DTAB structure and scale rules. (DilatedOCA vs dense attention: test_local_window.py.)"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from yolo12l import build_model
from yolo12l.models import get_block
from yolo12l.models.blocks import (
    DTAB, A2C2f_DTAB, C3k2_DTAB, DilatedFeedForward, DilatedMDTA, DilatedOCA, LayerNorm2d)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_layer_norm_bias_free_and_with_bias():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 5, 7) * 3 + 2
    bf, wb = LayerNorm2d(12, "BiasFree"), LayerNorm2d(12, "WithBias")
    with torch.no_grad():
        bf.weight.uniform_(0.5, 1.5)
        wb.weight.uniform_(0.5, 1.5)
        wb.bias.uniform_(-1, 1)
    px = x.permute(0, 2, 3, 1)  # channels last: one LayerNorm per pixel
    var = ((px - px.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True)
    torch.testing.assert_close(bf(x), (px / torch.sqrt(var + 1e-5) * bf.weight).permute(0, 3, 1, 2))
    torch.testing.assert_close(wb(x), nn.functional.layer_norm(px, (12,), wb.weight, wb.bias).permute(0, 3, 1, 2))
    assert not torch.allclose(bf(x), bf(x - 2))  # no mean subtraction in the numerator
    assert bf.bias is None and len(list(bf.parameters())) == 1
    assert bf(x.bfloat16()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="BiasFree"):
        LayerNorm2d(4, "Batch")


def test_mdta_equals_grouped_channel_attention():
    torch.manual_seed(1)
    m = DilatedMDTA(24, num_heads=4, bias=True)
    with torch.no_grad():
        m.temperature.copy_(torch.tensor([0.5, 1.0, 2.0, 3.0]).view(4, 1, 1))
    x = torch.randn(2, 24, 6, 9)
    with torch.no_grad():
        qkv = m.qkv_dwconv(m.qkv(x)).flatten(2)  # (B, 72, HW)
        q, k, v = qkv[:, :24], qkv[:, 24:48], qkv[:, 48:]
        out = torch.empty_like(v)
        for g in range(4):  # one head = 6 consecutive channels
            sl = slice(6 * g, 6 * g + 6)
            qn = q[:, sl] / q[:, sl].norm(dim=-1, keepdim=True)
            kn = k[:, sl] / k[:, sl].norm(dim=-1, keepdim=True)
            attn = (qn @ kn.transpose(1, 2) * m.temperature[g]).softmax(-1)  # (B, 6, 6): channels × channels
            out[:, sl] = attn @ v[:, sl]
        ref = m.project_out(out.view(2, 24, 6, 9))
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)
    dw = m.qkv_dwconv
    assert dw.dilation == (2, 2) and dw.padding == (2, 2) and dw.groups == 72 and dw.kernel_size == (3, 3)


def test_channel_heads_divide_the_width():
    assert DilatedMDTA(24, 4).num_heads == 4
    assert DilatedMDTA(20, 8).num_heads == 4
    assert DilatedMDTA(6, 4).num_heads == 2
    assert DilatedMDTA(7, 4).num_heads == 1


def test_ffn_is_two_dilated_convs_with_gelu():
    torch.manual_seed(2)
    f = DilatedFeedForward(8, 2.0)
    x = torch.randn(1, 8, 7, 5)
    ref = F.conv2d(F.gelu(F.conv2d(x, f.project_in.weight, padding=2, dilation=2)), f.project_out.weight,
                   padding=2, dilation=2)
    torch.testing.assert_close(f(x), ref)
    assert f.project_in.out_channels == 16 and f.project_in.bias is None


def test_dtab_order_and_any_size():
    torch.manual_seed(3)
    blk = DTAB(32)
    x = torch.randn(2, 32, 7, 10)
    with torch.no_grad():
        y = x + blk.channel_attn(blk.norm1(x))
        y = y + blk.channel_ffn(blk.norm2(y))
        y = y + blk.spatial_attn(blk.norm3(y))
        y = y + blk.spatial_ffn(blk.norm4(y))
        torch.testing.assert_close(blk(x), y)
    assert isinstance(blk.spatial_attn, DilatedOCA) and blk.spatial_attn.overlap_win_size == 6
    assert blk.channel_attn.num_heads == 4 and blk.spatial_attn.num_heads == 2 and blk.spatial_attn.dim_head == 16
    xg = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = blk(xg)
    out.float().square().mean().backward()
    assert torch.isfinite(out).all() and torch.isfinite(xg.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in blk.parameters())


def test_c3k2_dtab_inner_blocks():
    assert get_block("C3k2_DTAB").overrides_for("l") == {"c3k": True}
    one = C3k2_DTAB(32, 64, n=2)
    assert len(one.m) == 2 and all(type(m) is DTAB for m in one.m)
    two = C3k2_DTAB(32, 64, n=1, c3k=True)
    assert isinstance(two.m[0], nn.Sequential) and [type(b) for b in two.m[0]] == [DTAB, DTAB]
    assert two(torch.randn(1, 32, 5, 6)).shape == (1, 64, 5, 6)


def test_a2c2f_dtab_every_stage_is_dtab():
    for a2 in (True, False):
        m = A2C2f_DTAB(64, 64, n=2, a2=a2, area=4)
        assert [type(s) for s in m.m] == [DTAB, DTAB]
    assert A2C2f_DTAB(64, 64, a2=True, residual=True).gamma is not None
    assert A2C2f_DTAB(64, 64, a2=False, residual=True).gamma is None  # as in A2C2f: layer scale on a2 layers
    assert get_block("A2C2f_DTAB").overrides_for("x") == {"residual": True, "mlp_ratio": 1.2}


@pytest.mark.parametrize("scale", ["n", "m"])
def test_dtab_config_layout(scale):
    net = build_model(f"yolo12{scale}-dtab.yaml")
    assert [type(net.model[i]) for i in (2, 4, 20)] == [C3k2_DTAB] * 3
    assert [type(net.model[i]) for i in (6, 8, 11, 14, 17)] == [A2C2f_DTAB] * 5
    inner = net.model[2].m[0]
    if scale == "m":  # m/l/x: c3k → two DTABs per inner block
        assert [type(b) for b in inner] == [DTAB, DTAB]
    else:
        assert type(inner) is DTAB
    for blk in (m for m in net.modules() if isinstance(m, DTAB)):
        dim = blk.norm1.weight.numel()
        assert blk.channel_attn.num_heads == 4 and dim % 4 == 0
