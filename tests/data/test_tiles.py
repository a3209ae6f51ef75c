"""Tile training: random imgsz crops of the original images (yolo12l.data.tiles) through the real dataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo12l.data import TinyObjectsDataModule
from yolo12l.data.tiles import crop_tile, random_tile
from yolo12l.data.transforms import AugmentConfig


def _boxes(n: int, rng: np.random.Generator, hw=(1000, 1200)) -> np.ndarray:
    xy = rng.uniform(0, [hw[1] - 30, hw[0] - 30], size=(n, 2))
    return np.concatenate([xy, xy + rng.uniform(8, 30, size=(n, 2))], axis=1)


def test_windows_inside_and_empty_rate_controlled():
    rng = np.random.default_rng(0)
    boxes = _boxes(12, rng)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    empty = 0
    for _ in range(2000):
        x1, y1, x2, y2 = random_tile(rng, (1000, 1200), boxes, 256, empty_rate=0.3)
        assert 0 <= x1 and x2 <= 1200 and 0 <= y1 and y2 <= 1000 and (x2 - x1, y2 - y1) == (256, 256)
        inside = (centres[:, 0] >= x1) & (centres[:, 0] < x2) & (centres[:, 1] >= y1) & (centres[:, 1] < y2)
        empty += not inside.any()
    assert empty / 2000 == pytest.approx(0.3, abs=0.04)
    # a side shorter than the tile is taken whole; an image without boxes gives some window
    assert random_tile(rng, (100, 1200), boxes[:0], 256) [1::2] == (0, 100)


def test_object_tiles_contain_their_object():
    rng = np.random.default_rng(1)
    box = np.array([[700.0, 400.0, 720.0, 430.0]])
    for _ in range(200):
        x1, y1, x2, y2 = random_tile(rng, (1000, 1200), box, 128, empty_rate=0.0)
        assert x1 <= 700 and 720 <= x2 and y1 <= 400 and 430 <= y2


def test_crop_clips_by_the_visibility_rule():
    img = np.zeros((300, 300, 3), np.uint8)
    boxes = np.array([[90.0, 10, 110, 30], [98.0, 50, 118, 70], [10.0, 10, 30, 30]])  # half, 10% in, whole
    tile, b, lab = crop_tile(img, boxes, np.array([0, 1, 2]), (0, 0, 100, 100), AugmentConfig(min_visibility=0.2))
    assert tile.shape == (100, 100, 3)
    assert lab.tolist() == [0, 2] and b[0].tolist() == [90, 10, 100, 30]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tmp_path_factory.mktemp("tiles") / "cache"


def _dataset(cache, **kw):
    dm = TinyObjectsDataModule(num_train=4, num_val=1, image_size=(512, 512), object_size=(12, 24),
                               num_objects=(20, 30), imgsz=128, cache_dir=cache, num_workers=0, tiles=True, **kw)
    dm.setup("fit")
    return dm.datasets["train"]


def test_tiles_keep_native_resolution(tiny):
    """Without mosaic / affine / flip a sample is one 128-px tile of the 512-px original: boxes keep their size
    (the whole image resized to 128 would shrink them 4x)."""
    ds = _dataset(tiny, mosaic=0.0, scale=0.0, translate=0.0, fliplr=0.0, tile_empty=0.0)
    sizes = []
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (3, 128, 128) and len(s["boxes"]) > 0
        b = s["boxes"].numpy()
        assert (b >= 0).all() and (b <= 128).all()
        sizes.append(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]))
    sizes = np.concatenate(sizes)
    assert np.median(sizes) > 10  # 12-24 px objects (clipped ones smaller); resized whole they would be 3-6 px


def test_tiles_deterministic_in_seed_epoch_index_and_compose_with_mosaic(tiny):
    """Mosaic of tiles; a sample is a function of (seed, epoch, index): a fresh dataset set to epoch 2 (a resumed
    run) gives the samples of one that went through epochs 0 and 1 first."""
    a, b = _dataset(tiny, mosaic=1.0), _dataset(tiny, mosaic=1.0)
    for epoch in (0, 1):
        a.set_epoch(epoch)
        _ = [a[i] for i in range(len(a))]
    a.set_epoch(2)
    b.set_epoch(2)
    for i in range(len(a)):
        sa, sb = a[i], b[i]
        assert sa["meta"]["mosaic"] and torch.equal(sa["image"], sb["image"])
        assert torch.equal(sa["boxes"], sb["boxes"]) and torch.equal(sa["labels"], sb["labels"])
    b.set_epoch(3)
    assert not torch.equal(a[0]["image"], b[0]["image"])
