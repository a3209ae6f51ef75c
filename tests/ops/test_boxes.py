"""Box conversions, IoU and clipping (letterbox un-mapping: tests/data/test_letterbox.py)."""
from __future__ import annotations

import pytest
import torch

from yolo12l.ops import box_area, box_iou, clip_boxes, xywh2xyxy, xyxy2xywh


def test_xywh_xyxy_known_values_and_round_trip():
    xywh = torch.tensor([[10.0, 20.0, 4.0, 6.0], [0.0, 0.0, 2.0, 2.0]])
    xyxy = xywh2xyxy(xywh)
    assert torch.equal(xyxy, torch.tensor([[8.0, 17.0, 12.0, 23.0], [-1.0, -1.0, 1.0, 1.0]]))
    assert torch.equal(xyxy2xywh(xyxy), xywh)
    batch = torch.rand(2, 5, 4) * 100
    torch.testing.assert_close(xyxy2xywh(xywh2xyxy(batch)), batch)
    assert xywh2xyxy(batch).shape == (2, 5, 4)


def test_inputs_are_not_modified():
    b = torch.tensor([[1.0, 2.0, 30.0, 40.0]])
    before = b.clone()
    xywh2xyxy(b), xyxy2xywh(b), clip_boxes(b, (10, 10))
    assert torch.equal(b, before)


def test_box_iou_hand_computed():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[5.0, 5.0, 15.0, 15.0], [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    expected = torch.tensor([[25 / 175, 1.0, 0.0], [0.0, 4 / 100, 0.0]])
    torch.testing.assert_close(box_iou(a, b), expected)
    assert box_iou(a, b).shape == (2, 3)
    assert torch.equal(box_area(a), torch.tensor([100.0, 4.0]))


def test_box_iou_degenerate_boxes():
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert torch.isnan(box_iou(point, point)).all()  # 0/0: never "above threshold"
    assert box_iou(point, point, eps=1e-7).item() == 0.0


def test_clip_boxes():
    b = torch.tensor([[-5.0, 3.0, 120.0, 90.0]])
    assert torch.equal(clip_boxes(b, (80, 100)), torch.tensor([[0.0, 3.0, 100.0, 80.0]]))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="last dimension of 4"):
        xywh2xyxy(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_iou(torch.zeros(2, 2, 4), torch.zeros(3, 4))
