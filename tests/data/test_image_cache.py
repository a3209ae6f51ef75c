"""Image cache (ram / disk / per-process buffer): same samples as decoding every time; memory check; failures."""
import logging

import numpy as np
import pytest
import torch

from datatest_utils import truncate
from yolo12l.data import image_cache
from yolo12l.data.coco import parse_coco
from yolo12l.data.datamodule import SyntheticDataModule
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.image_cache import ResizedImages, resized_nbytes
from yolo12l.data.transforms import AugmentConfig


@pytest.fixture
def synth_split(synth):
    return parse_coco(synth.train_annotations, synth.train_images)


def samples(ds, indices=(0, 3, 5, 9)):
    return [ds[i] for i in indices]


def assert_same(a, b):
    for x, y in zip(a, b):
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["boxes"], y["boxes"])
        assert torch.equal(x["labels"], y["labels"])


def test_ram_disk_and_buffer_give_the_uncached_samples(synth_split, tmp_path, monkeypatch):
    recs, cfg = synth_split.records, AugmentConfig(mixup=0.3)
    plain = samples(DetectionDataset(recs, 96, cfg, seed=1))
    ram = DetectionDataset(recs, 96, cfg, seed=1, cache_images="ram")
    assert ram.images.filled and all(a is not None for a in ram.images._ram)
    stored = sum(a.nbytes for a in ram.images._ram)  # the estimate ignores the JPEG draft's rounding of sides
    assert stored == pytest.approx(resized_nbytes([(r.width, r.height) for r in recs], 96), rel=0.02)
    disk = DetectionDataset(recs, 96, cfg, seed=1, cache_images="disk", cache_dir=tmp_path)
    assert len(list((tmp_path / "images" / "96").glob("*.npy"))) == len(recs)
    buf = DetectionDataset(recs, 96, cfg, seed=1, buffer_bytes=3 * 96 * 96 * 3)
    for ds in (ram, disk, buf):
        assert_same(samples(ds), plain)
    assert 1 <= len(buf.images._lru) <= 3  # bounded by bytes

    def no_decode(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(image_cache, "decode_resized", no_decode)
    again = DetectionDataset(recs, 96, cfg, seed=1, cache_images="disk", cache_dir=tmp_path)  # reuses the files
    assert_same(samples(again), plain)
    assert_same(samples(ram), plain)


def test_ram_cache_that_does_not_fit_warns_and_decodes(synth_split, monkeypatch, caplog):
    monkeypatch.setattr(image_cache, "available_memory", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="yolo12l.data"):
        ds = DetectionDataset(synth_split.records, 96, AugmentConfig(), seed=1, cache_images="ram")
    assert "NOT cached" in caplog.text and "memory" in caplog.text
    assert ds.images.cache is None and not ds.images.filled
    assert_same(samples(ds), samples(DetectionDataset(synth_split.records, 96, AugmentConfig(), seed=1)))


def test_image_failing_while_caching_is_reported_and_replaced(synth_split, tmp_path):
    from yolo12l.data.records import IssueKind
    import shutil

    recs = synth_split.records
    bad = tmp_path / "bad.jpg"
    shutil.copy(recs[2].file, bad)
    truncate(bad)
    recs = list(recs)
    recs[2] = type(recs[2])(str(bad), recs[2].image_id, recs[2].width, recs[2].height, recs[2].boxes, recs[2].labels)
    ds = DetectionDataset(recs, 96, AugmentConfig(), seed=1, cache_images="ram")
    assert ds._failed[2] == 1 and ds.images._ram[2] is None
    assert ds[2]["meta"]["index"] != 2  # replaced
    ds.collect_load_failures()
    assert [i.file for i in ds.report.issues if i.kind == IssueKind.LOAD_FAILED] == [str(bad)]


def test_bad_cache_mode_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cache_images"):
        SyntheticDataModule(num_train=2, num_val=1, cache_dir=tmp_path, cache_images="gpu")
    with pytest.raises(ValueError, match="cache_images"):
        ResizedImages(["a.jpg"], 64, cache="vram")


def test_datamodule_passes_cache_to_the_train_dataset(tmp_path):
    dm = SyntheticDataModule(num_train=4, num_val=2, imgsz=64, cache_dir=tmp_path, cache_images="disk",
                             image_buffer_mb=0, num_workers=0)
    dm.setup("fit")
    train = dm.datasets["train"]
    assert train.images.cache == "disk" and train.images.filled and train.images.buffer_bytes == 0
    assert dm.datasets["val"].images.cache is None or not dm.datasets["val"].images.filled
    assert np.asarray(next(iter(dm.train_dataloader()))["images"]).shape[1:] == (3, 64, 64)


def test_the_buffer_is_used_only_when_the_training_set_fits(synth, caplog):
    """image_buffer_mb: on a set whose decoded images exceed it, samples are decoded per sample (the buffer would
    rarely hit and costs memory per decode); a set that fits keeps it. Samples are the same either way."""
    from yolo12l.data import CocoDataModule

    def train_set(mb):
        dm = CocoDataModule(synth.train_annotations, synth.train_images, imgsz=96, batch_size=4, num_workers=0,
                            image_buffer_mb=mb, cache_dir=synth.root / "cache")
        dm.setup("fit")
        return dm.datasets["train"]

    fits = train_set(512)
    assert fits.images.buffer_bytes == 512 * 2**20
    need = resized_nbytes([(r.width, r.height) for r in fits.records], 96)
    with caplog.at_level(logging.INFO, logger="yolo12l.data"):
        small = train_set(need / 2 / 2**20)
    assert small.images.buffer_bytes == 0
    assert f"the {len(fits.records)} training images need" in caplog.text and "decoding per sample" in caplog.text
    for ds in (fits, small):
        ds.set_epoch(0)
    assert_same(samples(fits), samples(small))
