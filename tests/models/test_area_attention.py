"""Area attention: SDPA path == explicit softmax, reference layout, uneven token counts."""
from __future__ import annotations

import pytest
import torch
from einops import rearrange

from yolo12l.models.blocks import A2C2f, AAttn, ABlock


def _randomize_bn(module: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def strip_reference(attn: AAttn, x: torch.Tensor) -> torch.Tensor:
    """Independent reference: loop over strips of the flattened map, explicit softmax on real tokens only."""
    B, C, H, W = x.shape
    N = H * W
    n = -(-N // attn.area)
    qkv = attn.qkv(x).flatten(2)  # (B, 3C, N)
    qkv = qkv.view(B, attn.num_heads, 3, attn.head_dim, N)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, h, d, N)
    out = torch.zeros_like(q)
    for s in range(0, N, n):
        e = min(s + n, N)
        qs, ks, vs = q[..., s:e], k[..., s:e], v[..., s:e]
        w = (qs.transpose(-2, -1) @ ks * attn.head_dim**-0.5).softmax(-1)  # (B, h, n, n)
        out[..., s:e] = vs @ w.transpose(-2, -1)
    out = out.reshape(B, C, H, W)
    return attn.proj(out + attn.pe(v.reshape(B, C, H, W)))


@pytest.mark.parametrize("area", [1, 2, 4])
@pytest.mark.parametrize("hw", [(8, 8), (16, 26), (5, 7), (3, 3)])
def test_sdpa_equals_explicit_and_strip_reference(area, hw):
    torch.manual_seed(0)
    attn = AAttn(64, num_heads=2, area=area).eval()
    _randomize_bn(attn)
    x = torch.randn(2, 64, *hw)
    with torch.no_grad():
        a = attn(x)
        b = attn.forward_explicit(x)
        c = strip_reference(attn, x)
    assert a.shape == x.shape
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)


def test_qkv_channel_layout_is_per_head_q_k_v():
    """Channel j of the qkv conv output belongs to head j // (3d), and within it to q, k, v in that order."""
    attn = AAttn(64, num_heads=2, area=1)
    x = torch.randn(1, 64, 4, 4)
    q, k, v, _ = attn.split_qkv(x)
    raw = rearrange(attn.qkv(x), "b c y x -> b c (y x)")
    d = attn.head_dim
    torch.testing.assert_close(q[0, 1], raw[0, 3 * d:4 * d].T)  # head 1, q
    torch.testing.assert_close(k[0, 1], raw[0, 4 * d:5 * d].T)  # head 1, k
    torch.testing.assert_close(v[0, 0], raw[0, 2 * d:3 * d].T)  # head 0, v


def test_areas_are_contiguous_row_strips():
    """Changing a token in strip 0 leaves the attention of strip 1 unchanged (area=2 on an 8×4 map: rows 0-3 | 4-7)."""
    torch.manual_seed(1)
    attn = AAttn(32, num_heads=1, area=2).eval()
    x = torch.randn(1, 32, 8, 4)
    x2 = x.clone()
    x2[..., 0, 0] += 5.0
    with torch.no_grad():
        d = (attn(x) - attn(x2)).abs().amax(1)[0]  # (8, 4)
    # the 7×7 positional conv spreads the change three rows; beyond that only same-strip tokens may change
    assert d[:4].max() > 0
    assert d[7].max() == 0


def test_uneven_tokens_backward_is_finite():
    block = ABlock(64, 2, 1.2, area=4)
    x = torch.randn(2, 64, 5, 3, requires_grad=True)
    block(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)


def test_a2c2f_residual_layer_scale():
    m = A2C2f(64, 64, n=1, a2=True, area=1, residual=True, mlp_ratio=1.2)
    assert m.gamma is not None and torch.allclose(m.gamma, torch.full((64,), 0.01))
    assert m.m[0][0].mlp[0].conv.out_channels == int(32 * 1.2)
    with pytest.raises(ValueError, match="multiple of 32"):
        A2C2f(64, 48, n=1)
