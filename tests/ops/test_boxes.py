"""Box conversions, IoU, clipping and letterbox un-mapping."""
from __future__ import annotations

import pytest
import torch

from yolo12l.ops import box_area, box_iou, clip_boxes, scale_boxes_from_letterbox, xywh2xyxy, xyxy2xywh


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
    xywh2xyxy(b), xyxy2xywh(b), clip_boxes(b, (10, 10)), scale_boxes_from_letterbox(b, 0.5, (1, 2), (50, 50))
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


def test_scale_boxes_from_letterbox_inverts_the_letterbox():
    # original 480 x 640 (h x w) resized by 0.5 -> 240 x 320, padded to 320 x 320: pad_top = 40
    orig = torch.tensor([[100.0, 50.0, 300.0, 400.0], [0.0, 0.0, 640.0, 480.0]])
    ratio, pad = 0.5, (0.0, 40.0)
    boxed = orig * ratio + torch.tensor([pad[0], pad[1], pad[0], pad[1]])
    torch.testing.assert_close(scale_boxes_from_letterbox(boxed, ratio, pad, (480, 640)), orig)
    # per-axis ratio, and clipping of boxes reaching into the padding
    out = scale_boxes_from_letterbox(torch.tensor([[0.0, 0.0, 50.0, 50.0]]), (0.5, 0.25), (10.0, 5.0), (100, 70))
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 70.0, 100.0]]))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="last dimension of 4"):
        xywh2xyxy(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_iou(torch.zeros(2, 2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="ratio"):
        scale_boxes_from_letterbox(torch.zeros(1, 4), 0.0, (0, 0), (10, 10))
