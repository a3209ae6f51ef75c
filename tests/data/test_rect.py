"""Rect validation batches (Ultralytics' rule), and their boxes mapping back to original pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo12l.data import collate_detections, scale_boxes
from yolo12l.data.records import ImageRecord
from yolo12l.data.rect import RectEvalDataset, rect_batch_shapes

from datatest_utils import save_rgb, solid_image


def test_batch_shapes_follow_ultralytics_rule():
    # COCO-like landscape pair, portrait pair, square + landscape: imgsz 640, stride 32, pad 0.5
    sizes = np.array([[427, 640], [480, 640], [640, 480], [640, 427], [500, 500], [375, 500]], np.float64)
    order = np.argsort(sizes[:, 0] / sizes[:, 1], kind="stable")
    batch, shapes = rect_batch_shapes(sizes[order], 640, 2)
    assert batch.tolist() == [0, 0, 1, 1, 2, 2]
    # sorted ratios 0.667, 0.75 | 0.75, 1.0 | 1.333, 1.499. Batch 0: hi 0.75 -> ceil(0.75 * 20 + 0.5) = 16 -> 512
    # high, width ceil(20.5) = 21 -> 672; batch 1 reaches 1 -> (1, 1) -> 672 x 672; batch 2: lo 1.333 -> (1, 0.75)
    assert shapes.tolist() == [[512, 672], [672, 672], [672, 512]]


def test_rect_dataset_sorted_shapes_and_boxes_map_back(tmp_path):
    records = []
    for k, (h, w) in enumerate([(90, 160), (160, 90), (120, 120), (100, 150), (150, 100)]):
        box = np.array([[w * 0.2, h * 0.3, w * 0.7, h * 0.9]], np.float32)
        f = save_rgb(tmp_path / f"{k}.png", solid_image(h, w, box.tolist(), [(250, 0, 0)]))
        records.append(ImageRecord(str(f), k, w, h, box, np.array([0])))
    ds = RectEvalDataset(records, imgsz=128, batch_size=2)
    ratios = [r.height / r.width for r in ds.records]
    assert ratios == sorted(ratios)
    for i in range(len(ds)):
        s = ds[i]
        assert tuple(s["image"].shape[1:]) == ds.eval_shape(i) and all(v % 32 == 0 for v in ds.eval_shape(i))
        m = s["meta"]
        rx, ry = m["ratio"]  # exact per-axis gains of the resize (sides rounded up, as Ultralytics)
        assert max(round(m["orig_shape"][0] * ry), round(m["orig_shape"][1] * rx)) == 128
        back = scale_boxes(s["boxes"], (m["ratio"], m["pad"]), m["orig_shape"])
        torch.testing.assert_close(back, m["boxes"], atol=1e-4, rtol=0)
        # the red box is where the letterboxed box says, the padding is grey
        x1, y1, x2, y2 = s["boxes"][0].round().int().tolist()
        img = s["image"]
        assert img[0, (y1 + y2) // 2, (x1 + x2) // 2] > 200 and img[1, (y1 + y2) // 2, (x1 + x2) // 2] < 50
        if m["pad"][0] >= 1:
            assert (img[:, :, 0] == 114).all()
    # one batch = one shape; different shapes in one list (DDP sampler) are padded right/bottom
    b = collate_detections([ds[0], ds[len(ds) - 1]])
    h, w = b["images"].shape[-2:]
    assert (h, w) == tuple(max(a, c) for a, c in zip(ds.eval_shape(0), ds.eval_shape(len(ds) - 1)))
    last = ds[len(ds) - 1]
    lh, lw = last["image"].shape[1:]
    assert torch.equal(b["images"][1, :, :lh, :lw], last["image"]) and (b["images"][1, :, lh:, :] == 114).all()
    # targets are normalised to the padded batch, i.e. the same pixels
    t = b["targets"][b["targets"][:, 0] == 1][0]
    assert t[2].item() * w == pytest.approx((last["boxes"][0, 0] + last["boxes"][0, 2]).item() / 2, abs=1e-3)
