"""Blocked local attention (Halo, DilatedOCA) equals dense masked attention; padding never leaks; dilation lattice."""
from __future__ import annotations

import pytest
import torch
from einops import rearrange

from yolo12l.models.blocks import DilatedOCA, HaloAttention, LocalWindowAttention


pytestmark = pytest.mark.usefixtures("one_thread")


def dense_reference(attn: LocalWindowAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Full attention of every query over the whole map, with a mask that allows exactly the query's window.

    Written from the definition in absolute pixel coordinates: the query at full-resolution (y, x) = stride·(i, j)
    lies in block (y // b, x // b) and may see key rows [b·(y // b) − h, b·(y // b) + b + h) ∩ [0, H) (same for
    columns), and with dilation d only keys at offsets that are multiples of d; its relative logit for a key at
    offset (Δy, Δx) is q·rel_h[Δy + b + h − 1] + q·rel_w[Δx + b + h − 1] (q scaled by d^−½ first).
    """
    b, h, s, dil = attn.block, attn.halo, attn.stride, attn.dilation
    B, _, Hq, Wq = q.shape
    H, W = k.shape[-2:]
    nh = attn.num_heads
    split = lambda t: rearrange(t, "b (n d) y x -> b n y x d", n=nh)  # noqa: E731
    qs, ks, vs = split(q) * attn.head_dim**-0.5, split(k), split(v)

    def axis(nq: int, nk: int) -> tuple[torch.Tensor, torch.Tensor]:
        yq = torch.arange(nq) * s
        yk = torch.arange(nk)
        start = (yq // b) * b - h
        allowed = (yk[None] >= start[:, None]) & (yk[None] < start[:, None] + b + 2 * h)
        delta = yk[None] - yq[:, None]
        allowed &= delta % dil == 0
        return allowed, (delta + b + h - 1).clamp(0, 2 * (b + h) - 2)

    ay, iy = axis(Hq, H)
    ax, ix = axis(Wq, W)
    allowed = ay[:, None, :, None] & ax[None, :, None, :]  # (Hq, Wq, H, W)
    rel_y = torch.gather(qs @ attn.rel_h.T, -1, iy[:, None, :].expand(B, nh, Hq, Wq, H))  # (B, n, Hq, Wq, H)
    rel_x = torch.gather(qs @ attn.rel_w.T, -1, ix[None, :, :].expand(B, nh, Hq, Wq, W))  # (B, n, Hq, Wq, W)
    content = torch.einsum("bnyxd,bnijd->bnyxij", qs, ks)
    logits = content + rel_y[..., :, None] + rel_x[..., None, :]
    logits = logits.masked_fill(~allowed, float("-inf")).flatten(-2)
    out = torch.einsum("bnyxk,bnkd->bnyxd", logits.softmax(-1), vs.flatten(2, 3))
    return rearrange(out, "b n y x d -> b (n d) y x")


def random_qkv(attn: LocalWindowAttention, hw: tuple[int, int], batch: int = 2):
    c = attn.num_heads * attn.head_dim
    H, W = hw
    q = torch.randn(batch, c, *attn.out_size(H, W))
    return q, torch.randn(batch, c, H, W), torch.randn(batch, c, H, W)


GEOMETRIES = {  # name: (block, halo, stride, dilation)
    "halo-b4h1": (4, 1, 1, 1),
    "halo-b8h3": (8, 3, 1, 1),  # HaloNet default
    "halo-b4h2-s2": (4, 2, 2, 1),
    "halo-b8h3-s2": (8, 3, 2, 1),
    "oca-ws4": (4, 1, 1, 2),  # DilatedOCA default: window 4, overlap window 6
    "oca-ws8": (8, 2, 1, 2),  # window 8, overlap ratio 0.5 → overlap window 12
}
SIZES = [(8, 8), (16, 24), (13, 21), (5, 3), (1, 7)]  # even and uneven multiples of the block, smaller than a block


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("hw", SIZES)
def test_windowed_equals_dense_reference(geometry, hw):
    torch.manual_seed(0)
    attn = LocalWindowAttention(2, 8, *GEOMETRIES[geometry])
    q, k, v = random_qkv(attn, hw)
    with torch.no_grad():
        fast = attn(q, k, v)
        explicit, _ = attn.forward_explicit(q, k, v)
        ref = dense_reference(attn, q, k, v)
    assert fast.shape == q.shape
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(explicit, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geometry", ["halo-b4h2-s2", "oca-ws4"])
def test_padding_value_changes_nothing(geometry):
    torch.manual_seed(1)
    attn = LocalWindowAttention(2, 8, *GEOMETRIES[geometry])
    q, k, v = random_qkv(attn, (11, 6))
    with torch.no_grad():
        base = attn(q, k, v)
        for value in (1e3, -7.0):
            torch.testing.assert_close(attn(q, k, v, pad_value=value), base, rtol=0, atol=0)


@pytest.mark.parametrize("geometry", ["halo-b8h3", "halo-b4h2-s2", "oca-ws4"])
def test_border_queries_never_attend_to_padding(geometry):
    torch.manual_seed(2)
    attn = LocalWindowAttention(2, 8, *GEOMETRIES[geometry])
    H, W = 9, 6
    q, k, v = random_qkv(attn, (H, W), batch=1)
    _, weights = attn.forward_explicit(q, k, v)  # (B, L, heads, Q, K²)
    valid = attn.key_validity(H, W, q.device)  # (L, K²)
    padded = ~valid[None, :, None, None, :].expand_as(weights)
    assert (weights[padded] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    # the validity mask itself: window slots over real pixels = unfold of a ones map, counted independently
    b, h = attn.block, attn.halo
    for blk in range(valid.shape[0]):
        by, bx = divmod(blk, -(-W // b))
        rows = range(max(by * b - h, 0), min(by * b + b + h, H))
        cols = range(max(bx * b - h, 0), min(bx * b + b + h, W))
        assert valid[blk].sum().item() == len(rows) * len(cols)


def test_dilation_mask_default_window_keeps_even_offsets():
    """DilatedOCA(ws=4, ratio=0.5): every query keeps the 9 window keys at even offsets (itself included)."""
    oca = DilatedOCA(32)
    attn = oca.attn
    assert (attn.block, attn.halo, oca.overlap_win_size) == (4, 1, 6)
    bias = attn.dilation_bias.view(4, 4, 6, 6)  # (qy, qx, ky, kx)
    expected_rows = {0: [0, 2, 4], 1: [-2, 0, 2], 2: [-2, 0, 2], 3: [-4, -2, 0]}  # allowed Δy per query row
    for qy in range(4):
        for qx in range(4):
            kept = (bias[qy, qx] == 0).nonzero().tolist()
            deltas = sorted((ky - 1 - qy, kx - 1 - qx) for ky, kx in kept)
            assert deltas == sorted((dy, dx) for dy in expected_rows[qy] for dx in expected_rows[qx])
            assert (bias[qy, qx][bias[qy, qx] != 0] == -1e4).all()
    # a constant buffer: finite in half precision, not trained, not in the state dict
    assert torch.isfinite(attn.dilation_bias.half()).all() and torch.isfinite(attn.dilation_bias.bfloat16()).all()
    assert all(p is not attn.dilation_bias for p in oca.parameters())
    assert not any("dilation" in key for key in oca.state_dict())


def test_dilated_attention_weights_vanish_off_lattice():
    torch.manual_seed(3)
    attn = LocalWindowAttention(1, 8, 4, 1, dilation=2)
    q, k, v = random_qkv(attn, (8, 8), batch=1)
    _, weights = attn.forward_explicit(q, k, v)
    assert (weights[..., attn.dilation_bias < 0] == 0).all()
    assert (weights.view(-1, 36) > 0).sum(-1).max() == 9


def test_halo_module_equals_dense_reference():
    """The whole HaloAttention (projections + windows + output projection), strided and not, on an uneven map."""
    torch.manual_seed(4)
    for stride, c2 in ((1, 64), (2, 96)):
        m = HaloAttention(64, c2, block_size=4, halo_size=2, stride=stride).eval()
        x = torch.randn(2, 64, 11, 14)
        with torch.no_grad():
            q, k, v = m.qkv(x)
            torch.testing.assert_close(q, m.q(x)[..., ::stride, ::stride])  # subsampling commutes with 1×1 conv
            ref = m.proj(dense_reference(m.attn, q, k, v))
            torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)
        assert m(x).shape == (2, c2, -(-11 // stride), -(-14 // stride))


def test_oca_module_equals_dense_reference():
    torch.manual_seed(5)
    oca = DilatedOCA(24, window_size=4, overlap_ratio=0.5, num_heads=2, dim_head=16)
    x = torch.randn(2, 24, 10, 7)
    with torch.no_grad():
        ref = oca.project_out(dense_reference(oca.attn, *oca.qkv(x).chunk(3, 1)))
        torch.testing.assert_close(oca(x), ref, rtol=1e-5, atol=1e-5)


def test_bad_geometry_is_a_clear_error():
    with pytest.raises(ValueError, match="divide"):
        LocalWindowAttention(1, 8, 5, 1, stride=2)
    with pytest.raises(ValueError, match="even"):
        DilatedOCA(16, window_size=4, overlap_ratio=0.25)
    attn = LocalWindowAttention(1, 8, 4, 1, stride=2)
    with pytest.raises(ValueError, match="do not match"):
        attn(torch.randn(1, 8, 8, 8), torch.randn(1, 8, 8, 8), torch.randn(1, 8, 8, 8))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's deprecation notices
def test_blocks_export_to_onnx():
    """The windowing uses only exportable ops (no negative floor division, no take_along_dim)."""
    ort = pytest.importorskip("onnxruntime")
    import io

    from yolo12l.models.blocks import DTAB, HaloBlock, HaloConv

    torch.manual_seed(6)
    for m, c in ((HaloBlock(32), 32), (HaloConv(16, 32), 16), (DTAB(16), 16)):
        m.eval()
        x = torch.randn(1, c, 13, 21)
        f = io.BytesIO()
        torch.onnx.export(m, (x,), f, opset_version=17, dynamo=False)
        sess = ort.InferenceSession(f.getvalue())
        y = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            ref = m(x)
        torch.testing.assert_close(torch.from_numpy(y), ref, rtol=1e-4, atol=1e-4)
