"""Your own photometric albumentations transforms: the accepted spellings, spatial ones refused, run on the final
training image with the boxes untouched, reproducible per (seed, epoch, index)."""
import albumentations as A
import numpy as np
import pytest

from yolo12l.data.coco import parse_coco
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.photometric import LIGHT, LIGHT_P, build_photometric
from yolo12l.data.transforms import AugmentConfig
from yolo12l.errors import ConfigError


def names(compose):
    return [(type(t).__name__, t.p) for t in compose.transforms]


def test_every_spelling_gives_the_same_transforms():
    want = [("MedianBlur", 0.3), ("CLAHE", 0.5)]
    spellings = [
        [A.to_dict(A.MedianBlur(blur_limit=(3, 5), p=0.3)), A.to_dict(A.CLAHE(p=0.5))],
        [{"__class_fullname__": "MedianBlur", "blur_limit": [3, 5], "p": 0.3},
         {"__class_fullname__": "CLAHE", "p": 0.5}],
        [{"name": "MedianBlur", "params": {"blur_limit": [3, 5], "p": 0.3}}, {"name": "CLAHE", "params": {"p": 0.5}}],
        A.to_dict(A.Compose([A.MedianBlur(blur_limit=(3, 5), p=0.3), A.CLAHE(p=0.5)])),
        [A.MedianBlur(blur_limit=(3, 5), p=0.3), A.CLAHE(p=0.5)],
    ]
    for spec in spellings:
        c = build_photometric(spec)
        flat = c.transforms[0].transforms if isinstance(c.transforms[0], A.Compose) else c.transforms
        assert [(type(t).__name__, t.p) for t in flat] == want, spec
        assert tuple(flat[0].blur_limit) == (3, 5)


def test_light_step_is_ultralytics_optional_one():
    c = build_photometric(None, light=True)
    assert names(c) == [(n, LIGHT_P) for n in LIGHT] == [("Blur", 0.01), ("MedianBlur", 0.01), ("ToGray", 0.01),
                                                          ("CLAHE", 0.01)]
    assert names(build_photometric([{"name": "ToGray", "params": {"p": 1.0}}], light=True))[-1] == ("ToGray", 1.0)
    assert build_photometric(None) is None and build_photometric([]) is None


@pytest.mark.parametrize("spec, expect", [
    ([{"name": "HorizontalFlip"}], "x[0] HorizontalFlip: moves pixels (a spatial transform)"),
    ([A.to_dict(A.Compose([A.Blur(), A.Affine(scale=0.5)]))], "x[0].transforms[1] Affine: moves pixels"),
    ([{"name": "Blurr"}], "x[0] 'Blurr': not an albumentations transform"),
    ([{"__class_fullname__": "Blurr"}], "x[0] 'Blurr': not an albumentations transform"),
    ([{"name": "Blur", "params": {"blur_limit": "big"}}], "x[0] Blur: blur_limit"),
    ([{"name": "Blur", "p": 0.5}], "x[0]: unknown key(s) ['p'] beside 'name' (put arguments in 'params')"),
    (["Blur"], "x[0] 'Blur': must be an albumentations transform dict"),
    ([{"blur_limit": 3}], "x[0] {'blur_limit': 3}: names no transform"),
    ("Blur", "x 'Blur': must be a list of albumentations transforms"),
])
def test_bad_items_are_named(spec, expect):
    with pytest.raises(ConfigError) as err:
        build_photometric(spec, where="x")
    assert str(err.value).startswith(expect), str(err.value)
    assert "\n" not in str(err.value)


@pytest.fixture()
def train_split(synth):
    return parse_coco(synth.train_annotations, synth.train_images)


def test_runs_on_the_final_image_and_leaves_the_boxes(train_split):
    plain = DetectionDataset(train_split.records, 96, AugmentConfig(), seed=3)
    grey = DetectionDataset(train_split.records, 96, AugmentConfig(albumentations=[
        {"name": "ToGray", "params": {"p": 1.0}}]), seed=3)
    for index in range(4):
        a, b = plain[index], grey[index]
        np.testing.assert_array_equal(a["boxes"].numpy(), b["boxes"].numpy())
        np.testing.assert_array_equal(a["labels"].numpy(), b["labels"].numpy())
        want = A.ToGray(p=1.0)(image=np.ascontiguousarray(a["image"].permute(1, 2, 0).numpy()))["image"]
        np.testing.assert_array_equal(b["image"].permute(1, 2, 0).numpy(), want)  # the final image, made grey
        assert (b["image"][0] == b["image"][1]).all()


def test_random_transforms_are_reproducible_per_sample(train_split):
    cfg = AugmentConfig(albumentations=[{"name": "GaussNoise", "params": {"p": 0.5}}], albumentations_light=True)
    ds, again = (DetectionDataset(train_split.records, 64, cfg, seed=1) for _ in range(2))
    images = [ds[i]["image"] for i in range(6)]
    for i in reversed(range(6)):
        assert (again[i]["image"] == images[i]).all()
    base = DetectionDataset(train_split.records, 64, AugmentConfig(), seed=1)
    changed = sum(not (base[i]["image"] == images[i]).all() for i in range(6))
    assert 0 < changed < 6  # GaussNoise at p 0.5 hit some samples, not all
