"""make_anchors ordering, dist2bbox / bbox2dist round trip in both layouts, DFL decode."""
import pytest
import torch

from yolo12l.losses import bbox2dist, dfl_decode, dist2bbox, make_anchors


def test_make_anchors_order_and_strides():
    feats = [torch.zeros(1, 3, 4, 6), torch.zeros(1, 3, 2, 3), torch.zeros(1, 3, 1, 2)]
    pts, st = make_anchors(feats, (8, 16, 32))
    assert pts.shape == (24 + 6 + 2, 2) and st.shape == (32, 1)
    # P3 row-major, x fastest
    assert pts[:7].tolist() == [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [3.5, 0.5], [4.5, 0.5], [5.5, 0.5], [0.5, 1.5]]
    assert pts[23].tolist() == [5.5, 3.5]
    assert pts[24].tolist() == [0.5, 0.5] and pts[29].tolist() == [2.5, 1.5]
    assert st[:24].eq(8).all() and st[24:30].eq(16).all() and st[30:].eq(32).all()
    # sizes instead of maps give the same result; centres in pixels = pts * stride
    pts2, st2 = make_anchors([(4, 6), (2, 3), (1, 2)], [8, 16, 32])
    assert torch.equal(pts, pts2) and torch.equal(st, st2)
    assert (pts * st)[29].tolist() == [40.0, 24.0]


def test_make_anchors_offset_and_dtype():
    pts, st = make_anchors([torch.zeros(1, 1, 2, 2, dtype=torch.float64)], [8], offset=0.0)
    assert pts.dtype == torch.float64 and pts.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    with pytest.raises(ValueError):
        make_anchors([(2, 2)], [8, 16])


def test_dist2bbox_layouts_and_roundtrip():
    pts = torch.tensor([[2.5, 3.5], [0.5, 0.5]])
    dist = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]]])  # (1, A=2, 4)
    xyxy = dist2bbox(dist, pts, xywh=False)
    assert xyxy.tolist() == [[[1.5, 1.5, 5.5, 7.5], [0.0, 0.0, 1.0, 1.0]]]
    xywh = dist2bbox(dist, pts, xywh=True)
    assert xywh.tolist() == [[[3.5, 4.5, 4.0, 6.0], [0.5, 0.5, 1.0, 1.0]]]
    # channel-first (B, 4, A) with dim=1 (or -2) gives the transposed result
    cf = dist2bbox(dist.transpose(1, 2), pts, xywh=False, dim=1)
    assert torch.equal(cf, xyxy.transpose(1, 2))
    assert torch.equal(dist2bbox(dist.transpose(1, 2), pts, xywh=True, dim=-2), xywh.transpose(1, 2))
    assert torch.equal(bbox2dist(pts, xyxy), dist)
    assert bbox2dist(pts, xyxy, max_dist=2.5).max() == 2.5
    with pytest.raises(ValueError):
        dist2bbox(torch.zeros(4, 2, 3), pts, dim=0)


def test_dfl_decode_expectation():
    logits = torch.full((1, 2, 64), -1e4)
    logits[0, 0].view(4, 16)[:, 3] = 0.0  # one-hot bin 3 for every side
    logits[0, 1].view(4, 16)[0, 4:6] = 0.0  # half 4 / half 5 -> 4.5
    logits[0, 1].view(4, 16)[1:, 0] = 0.0
    out = dfl_decode(logits)
    assert out.shape == (1, 2, 4)
    assert torch.allclose(out, torch.tensor([[[3.0, 3, 3, 3], [4.5, 0, 0, 0]]]))
    # uniform logits -> mean bin index 7.5; channel-first layout agrees
    assert torch.allclose(dfl_decode(torch.zeros(3, 64)), torch.full((3, 4), 7.5))
    assert torch.allclose(dfl_decode(logits.transpose(1, 2), dim=1), out.transpose(1, 2))
    with pytest.raises(ValueError):
        dfl_decode(torch.zeros(2, 60))
