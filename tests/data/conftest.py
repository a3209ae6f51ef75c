"""Fixtures for data tests: tiny on-disk datasets (synthetic, and deliberately broken ones)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from datatest_utils import save_rgb, solid_image, truncate
from yolo12l.data.synthetic import synthetic_dataset


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """A small synthetic COCO dataset (16 train / 8 val) in a session temp cache."""
    return synthetic_dataset(num_train=16, num_val=8, seed=3, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def bad_coco(tmp_path):
    """A COCO split with one instance of every bad-input case; returns (json path, image dir, file names)."""
    d = tmp_path / "images"
    f = {}
    f["good"] = save_rgb(d / "good.jpg", solid_image(100, 120, [(10, 10, 50, 60)], [(255, 0, 0)]))
    f["gray"] = d / "gray.png"
    Image.fromarray(np.full((80, 100), 128, np.uint8)).save(f["gray"])
    f["rgba"] = d / "rgba.png"
    Image.fromarray(np.full((80, 100, 4), 200, np.uint8), "RGBA").save(f["rgba"])
    f["g16"] = d / "g16.png"
    cv2.imwrite(str(f["g16"]), np.full((80, 100), 40000, np.uint16))
    f["exif"] = d / "exif.jpg"
    ex = Image.Exif()
    ex[0x0112] = 6  # displayed rotated 90 deg clockwise: stored 100x80 (w x h) shows as 80x100
    Image.fromarray(solid_image(80, 100)).save(f["exif"], exif=ex)
    f["zero"] = d / "zero.jpg"
    f["zero"].write_bytes(b"")
    noise = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    f["trunc"] = truncate(save_rgb(d / "trunc.jpg", noise))
    f["corrupt"] = d / "corrupt.jpg"
    f["corrupt"].write_bytes(b"this is not an image at all" * 10)
    f["missing"] = d / "missing.jpg"
    f["empty"] = save_rgb(d / "empty.jpg", solid_image(60, 60))
    f["dup"] = save_rgb(d / "dup.jpg", solid_image(60, 60))
    names = ["good", "gray", "rgba", "g16", "exif", "zero", "trunc", "corrupt", "missing", "empty"]
    images = [{"id": i + 1, "file_name": f[n].name,
               "width": 120 if n == "good" else 100, "height": 100 if n == "good" else 80}
              for i, n in enumerate(names)]
    images[names.index("exif")].update(width=80, height=100)  # annotated in the displayed orientation
    images[names.index("empty")].update(width=60, height=60)
    images.append({"id": 1, "file_name": "dup.jpg", "width": 60, "height": 60})  # duplicate id
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 40, 50], "iscrowd": 0},  # fine
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [100, 80, 40, 40], "iscrowd": 0},  # outside -> clipped
        {"id": 3, "image_id": 1, "category_id": 3, "bbox": [5, 5, 0, 10], "iscrowd": 0},  # zero width -> dropped
        {"id": 4, "image_id": 1, "category_id": 3, "bbox": [5, 5, -4, 10], "iscrowd": 0},  # negative -> dropped
        {"id": 5, "image_id": 1, "category_id": 3, "bbox": [float("nan"), 5, 4, 10], "iscrowd": 0},  # NaN
        {"id": 6, "image_id": 1, "category_id": 3, "bbox": [0, 0, 120, 100], "iscrowd": 1},  # crowd
        {"id": 7, "image_id": 1, "category_id": 99, "bbox": [1, 1, 5, 5], "iscrowd": 0},  # unknown category
        {"id": 8, "image_id": 42, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0},  # unknown image
        {"id": 9, "image_id": 2, "category_id": 3, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 10, "image_id": 3, "category_id": 7, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 11, "image_id": 4, "category_id": 7, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 12, "image_id": 5, "category_id": 7, "bbox": [10, 20, 30, 40], "iscrowd": 0},
    ]
    cats = [{"id": 3, "name": "car"}, {"id": 7, "name": "train"}]
    ann = tmp_path / "instances_bad.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return ann, d, f
