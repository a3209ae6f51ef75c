"""Synthetic shapes dataset: deterministic, fast, cached, sensible boxes."""
import json
import time

import numpy as np

from yolo12l.data.coco import parse_coco
from yolo12l.data.synthetic import SHAPE_CLASSES, render_image, synthetic_dataset


def test_default_size_is_fast_and_reused(tmp_path):
    t = time.perf_counter()
    p = synthetic_dataset(64, 16, seed=0, cache_dir=tmp_path)
    elapsed = time.perf_counter() - t
    assert elapsed < 5.0, elapsed
    assert len(list(p.train_images.glob("*.jpg"))) == 64 and len(list(p.val_images.glob("*.jpg"))) == 16
    mtime = p.train_annotations.stat().st_mtime_ns
    assert synthetic_dataset(64, 16, seed=0, cache_dir=tmp_path) == p
    assert p.train_annotations.stat().st_mtime_ns == mtime  # not regenerated
    assert synthetic_dataset(64, 16, seed=1, cache_dir=tmp_path).root != p.root


def test_deterministic_from_seed():
    a = render_image(np.random.default_rng([5, 0, 1]), (160, 320), 6)
    b = render_image(np.random.default_rng([5, 0, 1]), (160, 320), 6)
    c = render_image(np.random.default_rng([6, 0, 1]), (160, 320), 6)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])


def test_annotations_are_sensible(synth):
    p = parse_coco(synth.train_annotations, synth.train_images)
    assert p.class_names == list(SHAPE_CLASSES) and p.category_ids == [1, 2, 3, 4, 5]
    assert not p.report.problems and p.report.num_images == 16
    labels = np.concatenate([r.labels for r in p.records])
    assert set(labels.tolist()) == set(range(5))
    for r in p.records:
        assert 160 <= r.width <= 320 and 160 <= r.height <= 320
        side = np.minimum(r.boxes[:, 2] - r.boxes[:, 0], r.boxes[:, 3] - r.boxes[:, 1])
        assert (side >= 0.1 * min(r.width, r.height)).all()  # not tiny
    data = json.loads(synth.val_annotations.read_text())
    assert len(data["images"]) == 8
