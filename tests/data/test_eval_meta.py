"""Evaluation-only data: COCO crowd regions and annotation areas, VOC difficult objects reach the batch meta (and
the annotation cache) but not the training targets."""
from __future__ import annotations

import json

import numpy as np
import pytest

from datatest_utils import save_rgb, solid_image
from test_voc import make_voc
from yolo12l.data import CocoDataModule, VOCDataModule, parse_coco, parse_voc


def _coco(tmp_path):
    save_rgb(tmp_path / "im" / "a.jpg", solid_image(100, 160))
    anns = [
        {"id": 1, "image_id": 7, "category_id": 5, "bbox": [10, 10, 40, 50], "area": 1234.5, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 9, "bbox": [0, 0, 150, 90], "area": 9000.0, "iscrowd": 1},
        {"id": 3, "image_id": 7, "category_id": 9, "bbox": [60, 20, 30, 30], "iscrowd": 0},  # no area
        {"id": 4, "image_id": 7, "category_id": 5, "bbox": [100, 50, 100, 100], "area": 77.0, "iscrowd": 0},  # clip
    ]
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({"images": [{"id": 7, "file_name": "a.jpg", "width": 160, "height": 100}],
                               "annotations": anns, "categories": [{"id": 5, "name": "a"}, {"id": 9, "name": "b"}]}))
    return ann, tmp_path / "im"


def test_coco_crowd_and_area_reach_the_metric_not_training(tmp_path):
    ann, images = _coco(tmp_path)
    r = parse_coco(ann, images).records[0]
    np.testing.assert_allclose(r.boxes, [[10, 10, 50, 60], [60, 20, 90, 50], [100, 50, 160, 100]])
    np.testing.assert_allclose(r.areas, [1234.5, -1, 77.0])  # the annotation's area, kept when the box is clipped
    np.testing.assert_allclose(r.crowd_boxes, [[0, 0, 150, 90]])
    assert r.crowd_labels.tolist() == [1] and r.crowd_areas.tolist() == [9000.0]

    for _ in range(2):  # the second setup reads the annotation cache
        dm = CocoDataModule(ann, images, ann, images, imgsz=64, batch_size=1, num_workers=0, cache_dir=tmp_path / "c")
        dm.setup("fit")
        batch = next(iter(dm.val_dataloader()))
        meta = batch["meta"][0]
        assert len(batch["targets"]) == 3  # the crowd region is no target
        assert meta["crowd_boxes"].tolist() == [[0, 0, 150, 90]] and meta["crowd_labels"].tolist() == [1]
        assert meta["areas"].tolist() == pytest.approx([1234.5, -1, 77.0]) and meta["crowd_areas"].tolist() == [9000]
        assert dm.datasets["train"].records[0].crowd_boxes.tolist() == [[0, 0, 150, 90]]
        assert len(dm.datasets["train"].records[0].boxes) == 3  # training samples draw from boxes only


def test_voc_difficult_becomes_an_ignored_region(tmp_path):
    root = make_voc(tmp_path / "VOC2007", "val", {"000001": [("dog", 0, (1, 1, 10, 20)), ("cat", 1, (5, 5, 30, 30))]})
    r = parse_voc([(root, "val")]).records[0]
    assert len(r.boxes) == 1 and r.crowd_boxes.tolist() == [[4, 4, 30, 30]]
    keep = parse_voc([(root, "val")], keep_difficult=True).records[0]
    assert len(keep.boxes) == 2 and len(keep.crowd_boxes) == 0
    dm = VOCDataModule(root, train_split=None, val_split="val", imgsz=64, batch_size=1, num_workers=0,
                       cache_dir=tmp_path / "c")
    meta = next(iter(dm.val_dataloader()))["meta"][0]
    assert meta["crowd_boxes"].tolist() == [[4, 4, 30, 30]] and meta["areas"].tolist() == [-1.0]
