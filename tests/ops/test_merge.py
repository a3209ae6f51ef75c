"""Greedy NMM / NMS merging of detections against a straightforward Python reference."""
from __future__ import annotations

import pytest
import torch

from yolo12l.ops.merge import greedy_owners, match_matrix, merge_detections


def _metric(a: list[float], b: list[float], metric: str) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter) if metric == "iou" else inter / min(area_a, area_b)


def reference_merge(dets: torch.Tensor, method: str, metric: str, thr: float) -> list[list[float]]:
    """Textbook greedy merging in Python floats: per class by decreasing score, each box joins the first kept box it
    matches (NMS drops it, NMM grows the kept box to the union of its group) or becomes a kept box."""
    rows = dets.double().tolist()
    out = []
    for c in sorted({r[5] for r in rows}):
        group = sorted((r for r in rows if r[5] == c), key=lambda r: -r[4])
        kept: list[list[float]] = []  # original kept boxes (matching is decided on them)
        merged: list[list[float]] = []
        for r in group:
            for k, m in zip(kept, merged):
                if _metric(k, r, metric) > thr:
                    if method == "nmm":
                        m[0], m[1] = min(m[0], r[0]), min(m[1], r[1])
                        m[2], m[3] = max(m[2], r[2]), max(m[3], r[3])
                    break
            else:
                kept.append(r)
                merged.append(list(r))
        out.extend(merged)
    return sorted(out, key=lambda r: -r[4])


def random_dets(n: int, seed: int, nc: int = 3) -> torch.Tensor:
    """Clustered boxes on a 1/16 px grid (exact in float32) with distinct scores."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(max(n // 6, 1), 2, generator=g) * 400
    xy = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * 6
    wh = torch.rand(n, 2, generator=g) * 30 + 4
    boxes = (torch.cat((xy, xy + wh), 1) * 16).round() / 16
    scores = torch.randperm(n, generator=g).float() / n + 0.01
    cls = torch.randint(nc, (n,), generator=g).float()
    return torch.cat((boxes, scores[:, None], cls[:, None]), 1)


@pytest.mark.parametrize("method", ["nmm", "nms"])
@pytest.mark.parametrize("metric", ["ios", "iou"])
@pytest.mark.parametrize("n,seed", [(1, 0), (40, 1), (700, 2)])
def test_merge_matches_reference(method, metric, n, seed):
    dets = random_dets(n, seed)
    got = merge_detections(dets, method, metric, 0.5)
    want = torch.tensor(reference_merge(dets, method, metric, 0.5), dtype=torch.float32).view(-1, 6)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)
    if n > 1:
        assert got.shape[0] < n  # the clusters really merged


def test_block_size_does_not_change_owners():
    boxes = random_dets(600, 3)[:, :4]
    boxes = boxes[torch.randperm(600, generator=torch.Generator().manual_seed(0))]
    full = greedy_owners(boxes, 0.4, "ios", block_size=600)
    for bs in (1, 7, 64):
        assert torch.equal(greedy_owners(boxes, 0.4, "ios", block_size=bs), full)


def test_ios_merges_a_box_cut_by_a_slice_edge_that_iou_keeps():
    # a 60x20 object seen whole by one slice and cut to its left 20 px by another: IoU 1/3, IoS 1
    dets = torch.tensor([[100, 50, 160, 70, 0.75, 1], [100, 50, 120, 70, 0.5, 1], [100, 50, 120, 70, 0.875, 0]])
    assert match_matrix(dets[:1, :4], dets[1:2, :4], "ios").item() == 1.0
    nmm = merge_detections(dets, "nmm", "ios", 0.5)
    assert nmm.tolist() == [[100, 50, 120, 70, 0.875, 0], [100, 50, 160, 70, 0.75, 1]]  # classes never merge
    assert merge_detections(dets, "nmm", "iou", 0.5).shape[0] == 3
    # the higher-scored part absorbs the whole box: NMM's union is the whole object, NMS would keep the part
    swapped = dets[:2].clone()
    swapped[:, 4] = torch.tensor([0.5, 0.75])
    assert merge_detections(swapped, "nmm", "ios", 0.5).tolist() == [[100, 50, 160, 70, 0.75, 1]]
    assert merge_detections(swapped, "nms", "ios", 0.5).tolist() == [[100, 50, 120, 70, 0.75, 1]]


def test_empty_degenerate_and_bad_arguments():
    assert merge_detections(torch.zeros(0, 6)).shape == (0, 6)
    point = torch.tensor([[5.0, 5, 5, 5, 0.9, 0], [5, 5, 5, 5, 0.8, 0]])  # zero area: 0/0 never matches
    assert merge_detections(point).shape[0] == 2
    assert merge_detections(random_dets(50, 4), max_det=3).shape[0] == 3
    with pytest.raises(ValueError, match="merge method"):
        merge_detections(point, "wbf")
    with pytest.raises(ValueError, match="match metric"):
        merge_detections(point, "nmm", "giou")
    with pytest.raises(ValueError, match="match_thres"):
        merge_detections(point, "nmm", "ios", 1.5)
