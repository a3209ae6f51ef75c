"""The random affine (through the reference YoloAffine): warps straight into the output size; boxes enclose their
(rotated/sheared) objects."""
import albumentations as A
import numpy as np
import pytest

from datatest_utils import solid_image
from yolo12l.data.letterbox import letterbox
from reference_augment import YoloAffine, bbox_params
from yolo12l.data.transforms import AugmentConfig


def test_identity_is_a_centred_letterbox():
    img = (np.random.default_rng(0).random((64, 128, 3)) * 255).astype(np.uint8)
    t = A.Compose([YoloAffine(128, scale=0, translate=0)], bbox_params=bbox_params(AugmentConfig()), seed=0)
    out = t(image=img, bboxes=np.array([[10, 20, 30, 40.0]]), labels=[1])
    ref, rp = letterbox(img, 128)
    assert rp.pad == (0, 32)
    np.testing.assert_array_equal(out["image"], ref)
    np.testing.assert_allclose(out["bboxes"], [[10, 52, 30, 72]], atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_boxes_enclose_rotated_sheared_objects(seed):
    img = solid_image(100, 160, [(40, 30, 90, 60)], [(255, 0, 0)], bg=(0, 0, 0))
    t = A.Compose([YoloAffine(128, scale=0.3, translate=0.1, degrees=30, shear=10)],
                  bbox_params=bbox_params(AugmentConfig()), seed=seed)
    out = t(image=img, bboxes=np.array([[40, 30, 90, 60.0]]), labels=[0])
    assert out["image"].shape == (128, 128, 3)
    red = out["image"][..., 0] > 128
    ys, xs = np.nonzero(red)
    (x1, y1, x2, y2), = out["bboxes"]
    # the box is the (clipped) enclosing box of the warped rectangle
    assert xs.min() >= x1 - 1 and xs.max() <= x2 + 1 and ys.min() >= y1 - 1 and ys.max() <= y2 + 1
    assert abs(xs.min() - x1) <= 2 and abs(xs.max() + 1 - x2) <= 2
    assert abs(ys.min() - y1) <= 2 and abs(ys.max() + 1 - y2) <= 2


@pytest.mark.parametrize("seed", range(8))
def test_rgbx_warp_of_the_read_region_equals_the_full_3_channel_warp(seed):
    """What the pipeline computes fast (4-channel canvas filled only where the warp reads; garbage elsewhere) equals
    the plain 3-channel warp of the whole mosaic canvas, for random zoom / translation / rotation / shear."""
    import random

    from yolo12l.data.affine import random_affine_matrix, warp_image, warp_source_region
    from yolo12l.data.mosaic import mosaic_canvas, random_center

    rng, r = np.random.default_rng(seed), random.Random(seed)
    s = 96
    images = [rng.integers(0, 256, (*rng.integers(20, s + 1, 2), 3), dtype=np.uint8) for _ in range(4)]
    for _ in range(6):
        center = random_center(r, s)
        m = random_affine_matrix(r, (2 * s, 2 * s), s, 0.9, 0.3, 40 * (seed % 2), 10 * (seed % 3 == 1))
        want = warp_image(mosaic_canvas(images, center, s, 114)[0], m, s, 114)
        garbage = rng.integers(0, 256, (2 * s, 2 * s, 4), dtype=np.uint8)
        region = warp_source_region(m, s, (2 * s, 2 * s))
        canvas, _ = mosaic_canvas(images, center, s, 114, out=garbage, region=region, rgbx=True)
        assert canvas is garbage
        got = warp_image(canvas, m, s, 114, out=np.empty((s, s, 4), np.uint8))
        np.testing.assert_array_equal(got[..., :3], want)
