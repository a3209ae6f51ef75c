"""TaskAlignedAssigner on hand-built scenes: 4x4 anchors of stride 8 (centres 4, 12, 20, 28 px)."""
import torch

from yolo12l.losses import TaskAlignedAssigner, make_anchors

PTS, _ = make_anchors([(4, 4)], [8])
ANC = PTS * 8  # (16, 2) pixels; index = 4 * row + col


def centred(anchors: torch.Tensor, size: float) -> torch.Tensor:
    """(A, 4) xyxy boxes of side ``size`` centred on each anchor."""
    return torch.cat((anchors - size / 2, anchors + size / 2), -1)


def run(gt_boxes, gt_labels, pd_bboxes, pd_scores=None, topk=10, nc=2, mask=None):
    gt = torch.tensor(gt_boxes, dtype=torch.float32)[None]
    labels = torch.tensor(gt_labels)[None, :, None]
    mask = torch.ones(1, gt.shape[1], 1, dtype=torch.bool) if mask is None else torch.tensor(mask)[None, :, None]
    scores = torch.full((1, 16, nc), 0.5) if pd_scores is None else pd_scores[None]
    return TaskAlignedAssigner(topk=topk, num_classes=nc)(scores, pd_bboxes[None], ANC, labels, gt, mask)


def test_anchor_outside_every_box_is_background():
    gt = [0.0, 0.0, 16.0, 16.0]  # contains anchors 0, 1, 4, 5 only
    res = run([gt], [1], centred(ANC, 16.0))
    assert res.fg_mask[0].nonzero().flatten().tolist() == [0, 1, 4, 5]
    bg = ~res.fg_mask[0]
    assert res.target_scores[0][bg].eq(0).all()
    assert res.target_labels[0][res.fg_mask[0]].eq(1).all()
    assert torch.equal(res.target_bboxes[0][res.fg_mask[0]], torch.tensor([gt] * 4))
    # every foreground anchor carries only the GT class, with a positive soft score
    assert res.target_scores[0][res.fg_mask[0], 0].eq(0).all() and res.target_scores[0][res.fg_mask[0], 1].gt(0).all()


def test_anchor_on_the_box_edge_is_not_a_candidate():
    # anchor 5 sits at (12, 12): exactly on the right/bottom edge of this box, so it is outside (strict test)
    res = run([[0.0, 0.0, 12.0, 12.0]], [0], centred(ANC, 12.0))
    assert res.fg_mask[0].nonzero().flatten().tolist() == [0]


def test_shared_anchor_goes_to_higher_overlap():
    g1, g2 = [0.0, 0.0, 16.0, 16.0], [8.0, 8.0, 24.0, 24.0]  # anchor 5 (12, 12) lies in both
    for winner in (0, 1):
        pred = centred(ANC, 16.0)
        pred[5] = torch.tensor([g1, g2][winner])  # anchor 5 predicts one GT exactly (CIoU 1)
        res = run([g1, g2], [0, 1], pred)
        assert res.fg_mask[0, 5]
        assert res.target_gt_idx[0, 5].item() == winner
        assert res.target_labels[0, 5].item() == winner
        assert res.target_bboxes[0, 5].tolist() == [g1, g2][winner]
        assert res.target_scores[0, 5, 1 - winner] == 0
    # each GT keeps its other candidates
    assert res.fg_mask[0].nonzero().flatten().tolist() == [0, 1, 4, 5, 6, 9, 10]


def test_topk_bound_picks_best_aligned():
    scores = torch.zeros(16, 2)
    scores[:, 0] = torch.linspace(0.1, 0.9, 16).flip(0)  # anchor 0 best, then 1, 2 ...
    gt = [[0.0, 0.0, 32.0, 32.0]]  # contains every anchor
    pred = torch.tensor(gt).expand(16, 4)  # identical boxes -> alignment ordered by score
    for k in (1, 3, 7):
        res = run(gt, [0], pred, pd_scores=scores, topk=k)
        assert res.fg_mask[0].sum().item() == k
        assert res.fg_mask[0].nonzero().flatten().tolist() == list(range(k))


def test_soft_targets_are_normalised_alignment():
    gt = [[0.0, 0.0, 16.0, 16.0]]  # centre (8, 8); anchors 0, 1, 4, 5 inside
    # concentric square predictions -> CIoU equals IoU = (side / 16)^2 (same centre and aspect ratio)
    sides = {0: 12.0, 1: 8.0, 4: 10.0, 5: 6.0}
    pred = centred(ANC, 16.0)
    for a, s in sides.items():
        pred[a] = torch.tensor([8 - s / 2, 8 - s / 2, 8 + s / 2, 8 + s / 2])
    scores = torch.full((16, 2), 0.5)
    prob = {0: 0.3, 1: 0.9, 4: 0.6, 5: 0.8}
    for a, p in prob.items():
        scores[a, 1] = p
    res = run(gt, [1], pred, pd_scores=scores)
    iou = {a: (s / 16) ** 2 for a, s in sides.items()}
    align = {a: prob[a] ** 0.5 * iou[a] ** 6 for a in sides}
    best_align, best_iou = max(align.values()), max(iou.values())
    for a in sides:
        expected = align[a] / best_align * best_iou
        assert abs(res.target_scores[0, a, 1].item() - expected) < 1e-5 * max(1, expected)
    assert res.target_scores[0, 0, 1].item() == max(res.target_scores[0, :, 1]).item()  # anchor 0: best IoU & align


def test_padding_and_batching_do_not_change_results():
    g = torch.Generator().manual_seed(0)
    bs, nc = 3, 3
    scores = torch.rand(bs, 16, nc, generator=g)
    pred = centred(ANC, 12.0)[None].repeat(bs, 1, 1) + torch.randn(bs, 16, 4, generator=g)
    boxes = torch.tensor(
        [
            [[0, 0, 20, 20], [6, 6, 30, 28], [0, 0, 0, 0]],
            [[2, 10, 32, 32], [0, 0, 0, 0], [0, 0, 0, 0]],
            [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        ],
        dtype=torch.float32,
    )
    labels = torch.tensor([[[0], [2], [0]], [[1], [0], [0]], [[0], [0], [0]]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])[..., None]
    assigner = TaskAlignedAssigner(topk=4, num_classes=nc)
    full = assigner(scores, pred, ANC, labels, boxes, mask)
    # a garbage box in a padded (masked) slot changes nothing
    boxes_junk = boxes.clone()
    boxes_junk[0, 2] = torch.tensor([0, 0, 32, 32])
    junk = assigner(scores, pred, ANC, labels, boxes_junk, mask)
    for a, b in zip(full, junk):
        assert torch.equal(a, b)
    # each image alone (its real GTs only) gives the same targets
    for i, n in enumerate((2, 1, 0)):
        sl = slice(i, i + 1)
        one = assigner(scores[sl], pred[sl], ANC, labels[sl, :n], boxes[sl, :n], mask[sl, :n])
        assert torch.equal(one.fg_mask[0], full.fg_mask[i])
        assert torch.allclose(one.target_scores[0], full.target_scores[i])
        fg = full.fg_mask[i]
        assert torch.equal(one.target_bboxes[0][fg], full.target_bboxes[i][fg])
    # the image without boxes is all background
    assert not full.fg_mask[2].any() and full.target_scores[2].eq(0).all()
    assert full.fg_mask[0].any() and full.fg_mask[1].any()


def test_no_gt_at_all():
    res = TaskAlignedAssigner(num_classes=2)(
        torch.rand(2, 16, 2), centred(ANC, 8.0).expand(2, 16, 4), ANC,
        torch.zeros(2, 0, 1, dtype=torch.long), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1, dtype=torch.bool),
    )
    assert res.target_scores.shape == (2, 16, 2) and res.target_scores.eq(0).all()
    assert not res.fg_mask.any() and res.target_bboxes.shape == (2, 16, 4)
