"""The numpy/OpenCV training pipeline (pipeline.TrainAugment) gives the samples of the albumentations pipelines it
replaced (reference_augment.build_train_geometry / build_train_color, driven as DetectionDataset drove them)."""
import random

import numpy as np
import pytest

from yolo12l.data.coco import parse_coco
from yolo12l.data.dataset import DetectionDataset
from reference_augment import build_train_color, build_train_geometry
from yolo12l.data.transforms import AugmentConfig, mixup


def albumentations_sample(ds: DetectionDataset, index: int):
    """Training sample ``index`` as the albumentations pipelines computed it (the former DetectionDataset code)."""
    cfg, s = ds.augment, ds.imgsz
    geo_m, geo_p, col = build_train_geometry(cfg, s, True), build_train_geometry(cfg, s, False), build_train_color(cfg)
    seq = np.random.SeedSequence([ds.seed, ds.epoch, index])
    ds.rng = np.random.default_rng(seq)
    py = random.Random(int(seq.generate_state(1, np.uint64)[0]))
    for p in (geo_m, geo_p, col):
        p.set_random_state(ds.rng, py)

    def geometry(i, mosaic):
        window_of = i
        i, img, boxes, labels = ds.load_resized(i)
        if mosaic:
            others = [ds.load_resized(ds.draw_partner(window_of)) for _ in range(3)]
            meta = [{"image": o[1], "bboxes": o[2], "labels": o[3]} for o in others]
            out = geo_m(image=img, bboxes=boxes, labels=labels, mosaic_metadata=meta, force_apply=True)
        else:
            out = geo_p(image=img, bboxes=boxes, labels=labels, force_apply=True)
        return out["image"], np.asarray(out["bboxes"], np.float32).reshape(-1, 4), np.asarray(out["labels"], np.int64)

    on = ds.mosaic_enabled
    mosaic = on and ds.rng.random() < cfg.mosaic
    sample = geometry(index, mosaic)
    if on and cfg.mixup > 0 and ds.rng.random() < cfg.mixup:
        second = geometry(ds.draw_partner(index), mosaic)
        sample = mixup(sample, second, float(ds.rng.beta(32.0, 32.0)))
    out = col(image=sample[0], bboxes=sample[1], labels=sample[2], force_apply=True)
    return out["image"], np.asarray(out["bboxes"], np.float32).reshape(-1, 4), np.asarray(out["labels"]).reshape(-1)


CONFIGS = {
    "default": AugmentConfig(),
    "mixup_half_mosaic": AugmentConfig(mosaic=0.5, mixup=0.5),
    "rotate_shear_flip_always": AugmentConfig(degrees=15, shear=5, fliplr=1.0),
    "no_affine_mosaic": AugmentConfig(scale=0, translate=0, fliplr=0.0),
    "no_affine_letterbox": AugmentConfig(mosaic=0, scale=0, translate=0, hsv_h=0, hsv_s=0, hsv_v=0),
    "strict_boxes": AugmentConfig(min_box_size=12, min_visibility=0.6, max_aspect_ratio=3, scale=0.9),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_fast_pipeline_equals_albumentations(synth, name):
    split = parse_coco(synth.train_annotations, synth.train_images)
    ds = DetectionDataset(split.records, 96, CONFIGS[name], seed=5)
    n_boxes = 0
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        for index in range(0, len(ds), 3):
            got = ds[index]
            img, boxes, labels = albumentations_sample(ds, index)
            np.testing.assert_array_equal(got["image"].permute(1, 2, 0).numpy(), img)
            np.testing.assert_allclose(got["boxes"].numpy(), boxes, atol=1e-3)
            np.testing.assert_array_equal(got["labels"].numpy(), labels)
            n_boxes += len(boxes)
    assert n_boxes > 0
