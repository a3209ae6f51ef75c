"""Letterbox resize and the inverse box mapping."""
import numpy as np
import pytest
import torch

from yolo12l.data.letterbox import boxes_to_letterbox, letterbox, scale_boxes


def test_square_letterbox_shape_ratio_pad():
    img = np.full((100, 200, 3), 255, np.uint8)
    out, (ratio, (pw, ph)) = letterbox(img, 64)
    assert out.shape == (64, 64, 3)
    assert ratio == pytest.approx(0.32)
    assert (pw, ph) == (0, 16)  # content 64x32, 32 rows of padding split 16/16
    assert (out[:16] == 114).all() and (out[48:] == 114).all() and (out[16:48] == 255).all()


def test_odd_padding_goes_right_bottom():
    out, rp = letterbox(np.zeros((10, 7, 3), np.uint8), 10)  # content 7 wide, 3 columns of padding
    assert rp.pad == (1, 0) and (out[:, :1] == 114).all() and (out[:, 8:] == 114).all() and (out[:, 1:8] == 0).all()


@pytest.mark.parametrize("h,w,expect", [(480, 640, (480, 640)), (500, 640, (512, 640)), (640, 427, (640, 448))])
def test_auto_pads_to_stride_multiple(h, w, expect):
    out, rp = letterbox(np.zeros((h, w, 3), np.uint8), 640, auto=True)
    assert out.shape[:2] == expect and out.shape[0] % 32 == 0 and out.shape[1] % 32 == 0


def test_scaleup_false_keeps_small_images():
    out, rp = letterbox(np.zeros((20, 30, 3), np.uint8), 64, scaleup=False)
    assert rp.ratio == 1.0 and out.shape == (64, 64, 3) and rp.pad == (17, 22)


def test_content_lands_where_boxes_map():
    img = np.zeros((120, 300, 3), np.uint8)
    box = np.array([[50.0, 30.0, 110.0, 90.0]])
    img[30:90, 50:110] = 255
    out, rp = letterbox(img, 160)
    x1, y1, x2, y2 = boxes_to_letterbox(box, rp)[0]
    inside = out[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1]
    assert inside.min() > 200
    assert out[int(y2) + 2:int(y2) + 6, int(x1):int(x2)].max() < 60  # just below the box is dark


@pytest.mark.parametrize("as_torch", [False, True])
def test_roundtrip_to_original(as_torch):
    img = np.zeros((333, 517, 3), np.uint8)
    _, rp = letterbox(img, 640)
    boxes = np.array([[0, 0, 517, 333], [10.5, 20.25, 100, 200]], np.float32)
    b = torch.from_numpy(boxes) if as_torch else boxes
    back = scale_boxes(boxes_to_letterbox(b, rp, (333, 517)), rp, (333, 517))
    assert type(back) is type(b)
    np.testing.assert_allclose(np.asarray(back), boxes, atol=1e-3)
    # predictions in the padding are clipped to the image
    out = scale_boxes(np.array([[-5.0, -5.0, 700.0, 700.0]]), rp, (333, 517))
    np.testing.assert_allclose(out, [[0, 0, 517, 333]])


def test_back_mapping_uses_the_exact_per_axis_resize():
    """333×517 → 640: the content is 640×412, so y scales by 412/333, not by r = 640/517."""
    img = np.zeros((333, 517, 3), np.uint8)
    out, rp = letterbox(img, 640)
    top = rp.pad[1]
    content_rows = int(((out[:, 0, 0] != 114)).sum())
    assert content_rows == 412
    back = scale_boxes(np.array([[0.0, top, 640.0, top + 412.0]]), rp, (333, 517))
    np.testing.assert_allclose(back, [[0, 0, 517, 333]], atol=1e-4)


def test_resize_long_side_rounds_up_like_ultralytics_val():
    import numpy as np

    from yolo12l.data.letterbox import resize_long_side

    img = np.zeros((299, 384, 3), np.uint8)  # r = 256 / 384: 299 * r = 199.33 -> 200 (ceil; round gives 199)
    out, (rx, ry) = resize_long_side(img, 256)
    assert out.shape[:2] == (200, 256) and rx == 256 / 384 and ry == 200 / 299
    same, ratio = resize_long_side(np.zeros((256, 100, 3), np.uint8), 256)
    assert same.shape[:2] == (256, 100) and ratio == (1.0, 1.0)
