"""The tiny-objects synthetic set: deterministic, cached, large images with small objects, usable by the
DataModule."""
from __future__ import annotations

import numpy as np
import pytest

from yolo12l.data import TINY_CLASSES, TinyObjectsDataModule, tiny_objects_dataset
from yolo12l.data.coco import parse_coco
from yolo12l.data.synthetic_tiny import render_tiny_image
from yolo12l.errors import ConfigError

SMALL = dict(num_train=3, num_val=2, image_size=(480, 640), object_size=(8.0, 24.0), num_objects=(5, 20))


def test_deterministic_and_tiny():
    a = render_tiny_image(np.random.default_rng([3, 0, 1]), (480, 640), (8.0, 48.0), (10, 60))
    b = render_tiny_image(np.random.default_rng([3, 0, 1]), (480, 640), (8.0, 48.0), (10, 60))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    img, boxes, labels = a
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    sides = np.array([[x2 - x1, y2 - y1] for x1, y1, x2, y2 in boxes])
    assert 10 <= len(boxes) <= 60 and set(labels) <= {0, 1, 2}
    assert sides.min() >= 8 * 0.7 - 1e-6 and sides.max() <= 48 + 1e-6  # rotated squares/triangles: extent >= 0.7 d


def test_dataset_is_cached_and_parses_cleanly(tmp_path):
    p = tiny_objects_dataset(**SMALL, cache_dir=tmp_path)
    assert p.root.name.startswith("tiny-")
    mtime = p.train_annotations.stat().st_mtime_ns
    assert tiny_objects_dataset(**SMALL, cache_dir=tmp_path) == p and p.train_annotations.stat().st_mtime_ns == mtime
    split = parse_coco(p.val_annotations, p.val_images)
    assert split.class_names == list(TINY_CLASSES) and not split.report.problems and split.report.num_images == 2
    for r in split.records:
        assert (r.width, r.height) == (640, 480)
        assert (r.boxes[:, 2:] - r.boxes[:, :2]).max() <= 24 + 1e-6
    with pytest.raises(ValueError, match="object_size"):
        tiny_objects_dataset(object_size=(8.0, 4000.0), cache_dir=tmp_path)


def test_datamodule_serves_the_set(tmp_path):
    dm = TinyObjectsDataModule(**SMALL, imgsz=320, batch_size=2, num_workers=0, cache_dir=tmp_path)
    assert dm.class_names == list(TINY_CLASSES) and dm.num_classes == 3
    dm.setup("validate")
    batch = next(iter(dm.val_dataloader()))
    assert batch["images"].shape[0] == 2 and batch["targets"].shape[0] > 0
    with pytest.raises(ConfigError, match="num_objects"):
        TinyObjectsDataModule(num_objects=(5, 1), cache_dir=tmp_path)
