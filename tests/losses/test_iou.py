"""IoU / GIoU / DIoU / CIoU against closed-form values on hand-made boxes."""
import math

import pytest
import torch

from yolo12l.losses import bbox_iou


def xyxy_to_xywh(b):
    x1, y1, x2, y2 = b
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


# (box1, box2, expected {kind: value}) all computed by hand below
A, B = [0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]  # overlap 1x1, union 7, enclosing 3x3, centres (1,1)/(2,2)
# 4x2 vs 2x4: overlap 2x2, union 12, enclosing 4x4, centres (2,1)/(2,2)
C, D = [0.0, 0.0, 4.0, 2.0], [1.0, 0.0, 3.0, 4.0]
E, F = [0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0]  # disjoint: enclosing 3x1, centres 2 apart

v_cd = 4 / math.pi**2 * (math.atan(2 / 4) - math.atan(4 / 2)) ** 2
CASES = [
    (A, B, {"iou": 1 / 7, "giou": 1 / 7 - 2 / 9, "diou": 1 / 7 - 2 / 18, "ciou": 1 / 7 - 2 / 18}),
    (
        C,
        D,
        {
            "iou": 4 / 12,
            "giou": 4 / 12 - (16 - 12) / 16,
            "diou": 4 / 12 - 1 / 32,
            "ciou": 4 / 12 - 1 / 32 - v_cd / (1 - 4 / 12 + v_cd) * v_cd,
        },
    ),
    (E, F, {"iou": 0.0, "giou": -1 / 3, "diou": -4 / 10, "ciou": -4 / 10}),
]


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_closed_form_xyxy_and_xywh(case, kind):
    b1, b2, expected = CASES[case]
    got = bbox_iou(torch.tensor(b1), torch.tensor(b2), xywh=False, kind=kind)
    assert got.shape == ()
    assert got.item() == pytest.approx(expected[kind], abs=1e-6)
    got_xywh = bbox_iou(torch.tensor(xyxy_to_xywh(b1)), torch.tensor(xyxy_to_xywh(b2)), xywh=True, kind=kind)
    assert got_xywh.item() == pytest.approx(expected[kind], abs=1e-6)
    # symmetric in its arguments
    swapped = bbox_iou(torch.tensor(b2), torch.tensor(b1), xywh=False, kind=kind)
    assert swapped.item() == pytest.approx(got.item(), abs=1e-7)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_identical_boxes_give_one(kind):
    b = torch.tensor([[3.0, 4.0, 10.0, 7.0], [0.5, 0.5, 1.5, 3.5]])
    assert torch.allclose(bbox_iou(b, b, xywh=False, kind=kind), torch.ones(2), atol=1e-6)


def test_broadcast_pairwise():
    b1 = torch.tensor([A, C])
    b2 = torch.tensor([B, D, E])
    pair = bbox_iou(b1[:, None], b2[None], xywh=False)
    assert pair.shape == (2, 3)
    assert pair[0, 0].item() == pytest.approx(1 / 7, abs=1e-6)
    assert pair[1, 1].item() == pytest.approx(1 / 3, abs=1e-6)


def test_ciou_gradient_finite_and_alpha_detached():
    b1 = torch.tensor([C], requires_grad=True)
    ciou = bbox_iou(b1, torch.tensor([D]), xywh=False, kind="ciou")
    ciou.sum().backward()
    assert torch.isfinite(b1.grad).all() and b1.grad.abs().sum() > 0


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="unknown kind"):
        bbox_iou(torch.tensor(A), torch.tensor(B), kind="eiou")
