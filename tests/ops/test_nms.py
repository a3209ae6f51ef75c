"""NMS and post-processing against a straightforward greedy reference."""
from __future__ import annotations

import pytest
import torch

from yolo12l.ops import batched_nms, nms, postprocess


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float, groups=None) -> list[int]:
    """Textbook greedy NMS in Python floats (float64): visit by score, drop what a kept box overlaps."""
    bl, sl = boxes.double().tolist(), scores.tolist()
    gl = groups.tolist() if groups is not None else [0] * len(bl)
    order = sorted(range(len(bl)), key=lambda i: -sl[i])
    keep: list[int] = []
    for i in order:
        if all(gl[k] != gl[i] or _iou(bl[k], bl[i]) <= thr for k in keep):
            keep.append(i)
    return keep


def random_boxes(n: int, seed: int, size: float = 200.0, clustered: bool = False):
    """Boxes with corners on a 1/64 px grid (exact in float32, also after class offsets of a few 1e4) and distinct
    scores; optionally in tight clusters."""
    g = torch.Generator().manual_seed(seed)
    if clustered:
        centres = torch.rand(max(n // 25, 1), 2, generator=g) * size
        xy = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * 4
    else:
        xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 40 + 10
    boxes = (torch.cat((xy, xy + wh), 1) * 64).round() / 64
    scores = (torch.randperm(n, generator=g).float() + 1) / (n + 1)  # distinct: no ties
    return boxes, scores


def _assert_no_near_threshold_pairs(boxes: torch.Tensor, thr: float) -> None:
    b = boxes.double()
    lt = torch.maximum(b[:, None, :2], b[None, :, :2])
    rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (b[:, 2:] - b[:, :2]).prod(-1)
    iou = inter / (area[:, None] + area[None] - inter)
    assert ((iou - thr).abs() > 1e-6).all(), "test data has an IoU at the threshold: float32 may round either way"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("thr", [0.3, 0.45, 0.7])
def test_nms_equals_greedy_reference(seed, clustered, thr):
    boxes, scores = random_boxes(200, seed, clustered=clustered)
    _assert_no_near_threshold_pairs(boxes, thr)
    expected = reference_nms(boxes, scores, thr)
    assert nms(boxes, scores, thr).tolist() == expected
    # the blocked pass (several blocks, suppression carried across them) gives the same answer
    assert nms(boxes, scores, thr, block_size=16).tolist() == expected
    assert nms(boxes, scores, thr, block_size=1).tolist() == expected


def test_nms_suppression_chain():
    # each box overlaps only its neighbours (IoU 0.6): greedy keeps every other box, which needs the
    # fixed-point resolution to run through the whole chain
    boxes = torch.tensor([[4.0 * i, 0.0, 4.0 * i + 16.0, 10.0] for i in range(40)])
    scores = torch.linspace(1.0, 0.1, 40)
    assert _iou(boxes[0].tolist(), boxes[1].tolist()) == pytest.approx(0.6)
    assert _iou(boxes[0].tolist(), boxes[2].tolist()) < 0.5
    keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == list(range(0, 40, 2))
    assert keep.tolist() == reference_nms(boxes, scores, 0.5)


def test_nms_returns_indices_by_decreasing_score_and_handles_empty():
    boxes, scores = random_boxes(50, 7)
    keep = nms(boxes, scores, 0.5)
    assert keep.dtype == torch.long
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])
    empty = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.long


def test_nms_ties_keep_input_order():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]


def test_nms_rejects_bad_shapes():
    with pytest.raises(ValueError, match="boxes"):
        nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores"):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_nms_equals_per_class_reference(seed):
    boxes, scores = random_boxes(400, seed, clustered=True)
    _assert_no_near_threshold_pairs(boxes, 0.5)
    groups = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(seed))
    expected = reference_nms(boxes, scores, 0.5, groups)
    assert batched_nms(boxes, scores, groups, 0.5).tolist() == expected  # offset = coordinate span + 1
    assert batched_nms(boxes, scores, groups, 0.5, max_wh=7680).tolist() == expected


def test_batched_nms_equals_one_nms_over_shifted_boxes():
    boxes, scores = random_boxes(400, 3, clustered=True)
    groups = torch.randint(0, 8, (400,), generator=torch.Generator().manual_seed(3))
    shifted = boxes + groups[:, None].float() * 7680
    expected = nms(shifted, scores, 0.6).tolist()
    for block_size in (5, 256, 1000):
        assert batched_nms(boxes, scores, groups, 0.6, max_wh=7680, block_size=block_size).tolist() == expected


def test_batched_nms_different_classes_both_survive():
    boxes = torch.tensor([[10.0, 10.0, 50.0, 50.0], [11.0, 11.0, 51.0, 51.0], [12.0, 10.0, 50.0, 52.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.5).tolist() == [0]


# ---------------------------------------------------------------- postprocess


def make_output(dets: list[list[tuple]], nc: int, anchors: int) -> torch.Tensor:
    """(B, 4 + nc, A) eval output: each det is (cx, cy, w, h, {class: prob}); other anchors are background."""
    y = torch.zeros(len(dets), 4 + nc, anchors)
    y[:, :4] = torch.tensor([320.0, 320.0, 10.0, 10.0])[:, None]
    y[:, 4:] = 0.0001
    for b, image in enumerate(dets):
        for a, (cx, cy, w, h, probs) in enumerate(image):
            y[b, :4, a] = torch.tensor([cx, cy, w, h])
            for c, p in probs.items():
                y[b, 4 + c, a] = p
    return y


def test_postprocess_boxes_scores_classes_and_order():
    y = make_output([[(50, 50, 20, 10, {1: 0.6}), (200, 100, 40, 40, {0: 0.9, 2: 0.3})]], nc=3, anchors=10)
    (out,) = postprocess(y, conf=0.25)
    expected = torch.tensor([[180.0, 80.0, 220.0, 120.0, 0.9, 0.0], [40.0, 45.0, 60.0, 55.0, 0.6, 1.0]])
    torch.testing.assert_close(out, expected)


def test_postprocess_conf_filter_is_strict():
    y = make_output([[(50, 50, 20, 20, {0: 0.5}), (150, 50, 20, 20, {0: 0.25}), (250, 50, 20, 20, {1: 0.2})]], 2, 5)
    (out,) = postprocess(y, conf=0.25)
    assert out[:, 4].tolist() == [0.5]
    (out,) = postprocess(y, conf=0.1)
    assert len(out) == 3


def test_postprocess_class_aware_vs_agnostic():
    y = make_output([[(100, 100, 40, 40, {0: 0.9}), (101, 101, 40, 40, {1: 0.8}), (102, 100, 40, 40, {0: 0.7})]], 2, 5)
    (aware,) = postprocess(y, conf=0.25, iou=0.5)
    assert aware[:, 5].tolist() == [0.0, 1.0]
    (agnostic,) = postprocess(y, conf=0.25, iou=0.5, agnostic=True)
    assert agnostic[:, 5].tolist() == [0.0]


def test_postprocess_class_filter():
    y = make_output([[(50, 50, 20, 20, {0: 0.9}), (150, 50, 20, 20, {1: 0.8}), (250, 50, 20, 20, {2: 0.7})]], 3, 5)
    (out,) = postprocess(y, classes=[2, 1])
    assert out[:, 5].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="out of range"):
        postprocess(y, classes=[3])


def test_postprocess_max_det_and_max_nms():
    dets = [(20.0 * i + 10, 20.0, 10.0, 10.0, {0: 0.3 + 0.01 * i}) for i in range(30)]  # disjoint boxes
    y = make_output([dets], 1, 40)
    (out,) = postprocess(y, max_det=5)
    assert len(out) == 5
    torch.testing.assert_close(out[:, 4], torch.tensor([0.59, 0.58, 0.57, 0.56, 0.55]))
    (out,) = postprocess(y, max_nms=3)  # only the 3 best candidates enter NMS
    torch.testing.assert_close(out[:, 4], torch.tensor([0.59, 0.58, 0.57]))


def test_postprocess_empty_and_batch():
    y = make_output([[], [(50, 50, 20, 20, {0: 0.9})], []], 4, 6)
    out = postprocess(y)
    assert len(out) == 3
    assert out[0].shape == (0, 6) and out[2].shape == (0, 6) and out[0].dtype == y.dtype
    assert out[1].shape == (1, 6)
    # each image gives what it gives alone
    for i in range(3):
        assert torch.equal(postprocess(y[i : i + 1])[0], out[i])
    # tuple output (y, feats) uses y
    assert torch.equal(postprocess((y, [torch.zeros(1)]))[1], out[1])


def test_postprocess_equals_reference_pipeline():
    g = torch.Generator().manual_seed(0)
    nc, a = 6, 800
    centres = torch.rand(a // 40, 2, generator=g) * 600
    xy = centres[torch.randint(len(centres), (a,), generator=g)] + torch.randn(a, 2, generator=g) * 5
    wh = torch.rand(a, 2, generator=g) * 60 + 20
    probs = torch.rand(a, nc, generator=g) ** 4
    y = torch.cat((xy, wh, probs), 1).T[None].contiguous()
    (out,) = postprocess(y, conf=0.1, iou=0.6, max_det=100)
    # reference: best class, conf filter, per-class greedy NMS on xyxy boxes, top max_det
    score, cls = probs.max(1)
    sel = (score > 0.1).nonzero().squeeze(1)
    xyxy = torch.cat((xy - wh / 2, xy + wh / 2), 1)[sel]
    keep = reference_nms(xyxy, score[sel], 0.6, cls[sel])[:100]
    expected = torch.cat((xyxy[keep], score[sel][keep, None], cls[sel][keep, None].float()), 1)
    torch.testing.assert_close(out, expected)


def test_postprocess_rejects_bad_input():
    with pytest.raises(ValueError, match="B, 4 \\+ nc, A"):
        postprocess(torch.zeros(2, 4, 10))
    with pytest.raises(ValueError, match="conf"):
        postprocess(torch.zeros(1, 6, 10), conf=1.5)


# ---------------------------------------------------------------- early stop (max_keep) and backends


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_keep", [1, 7, 60, 1000])
def test_max_keep_is_the_prefix_of_full_nms(seed, max_keep):
    boxes, scores = random_boxes(600, seed, size=300, clustered=True)
    groups = torch.randint(0, 4, (600,), generator=torch.Generator().manual_seed(seed))
    full = reference_nms(boxes, scores, 0.5)
    full_grouped = reference_nms(boxes, scores, 0.5, groups)
    for block_size in (3, 64, 256):
        assert nms(boxes, scores, 0.5, max_keep=max_keep, block_size=block_size).tolist() == full[:max_keep]
        got = batched_nms(boxes, scores, groups, 0.5, max_keep=max_keep, block_size=block_size, max_wh=7680)
        assert got.tolist() == full_grouped[:max_keep]
    assert nms(boxes, scores, 0.5, max_keep=0).numel() == 0


def test_postprocess_early_stop_equals_reference_many_classes():
    """Validation setting: conf 0.001, 80 classes, dense clusters; only the first max_det kept boxes are built."""
    g = torch.Generator().manual_seed(5)
    nc, a = 80, 3000
    centres = torch.rand(30, 2, generator=g) * 600
    xy = centres[torch.randint(30, (a,), generator=g)] + torch.randn(a, 2, generator=g) * 3
    wh = torch.rand(a, 2, generator=g) * 80 + 20
    probs = torch.rand(a, nc, generator=g) ** 6
    xy, wh = (xy * 64).round() / 64, (wh * 64).round() / 64
    y = torch.cat((xy, wh, probs), 1).T[None].contiguous()
    score, cls = probs.max(1)
    sel = (score > 0.001).nonzero().squeeze(1)
    xyxy = torch.cat((xy - wh / 2, xy + wh / 2), 1)[sel]
    for max_det in (10, 100):
        (out,) = postprocess(y, conf=0.001, iou=0.7, max_det=max_det, backend="torch")
        keep = reference_nms(xyxy, score[sel], 0.7, cls[sel])[:max_det]
        expected = torch.cat((xyxy[keep], score[sel][keep, None], cls[sel][keep, None].float()), 1)
        torch.testing.assert_close(out, expected)


def test_torchvision_backend_equals_torch_or_says_it_is_missing():
    from yolo12l.ops.nms import torchvision_nms

    boxes, scores = random_boxes(300, 4, clustered=True)
    groups = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(4))
    mine = batched_nms(boxes, scores, groups, 0.45, max_wh=7680, backend="torch")
    if torchvision_nms() is None:
        with pytest.raises(RuntimeError, match="torchvision is not importable"):
            batched_nms(boxes, scores, groups, 0.45, backend="torchvision")
        assert torch.equal(batched_nms(boxes, scores, groups, 0.45, max_wh=7680, backend="auto"), mine)
    else:
        assert torch.equal(batched_nms(boxes, scores, groups, 0.45, max_wh=7680, backend="torchvision"), mine)
    with pytest.raises(ValueError, match="backend"):
        nms(boxes, scores, 0.5, backend="cuda-magic")
