"""Threads per DataLoader worker (worker_threads.py): the CPUs shared among the workers, set in each worker."""
import cv2
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from yolo12l.data.coco import parse_coco
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.transforms import AugmentConfig
from yolo12l.data.worker_threads import ENV, usable_cpus, worker_thread_budget
from yolo12l.errors import ConfigError


def test_budget_is_the_cpus_divided_by_the_workers(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cpus = usable_cpus()
    assert worker_thread_budget(1) == cpus
    assert worker_thread_budget(2) == max(1, cpus // 2)
    assert worker_thread_budget(4 * cpus) == 1
    monkeypatch.setenv(ENV, "3")
    assert worker_thread_budget(8) == 3


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_override_is_a_config_error_when_the_dataset_is_built(monkeypatch, synth, value):
    monkeypatch.setenv(ENV, value)
    records = parse_coco(synth.train_annotations, synth.train_images).records
    with pytest.raises(ConfigError, match=f"{ENV} must be a whole number of threads >= 1, got '{value}'"):
        DetectionDataset(records, 64, AugmentConfig())


class _Threads(Dataset):
    """Makes a real training batch, then reports the worker's OpenCV threads, torch threads and the threads that made
    the batch's samples."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return 1

    def __getitem__(self, i):
        import threading

        seen = set()
        make = self.ds._train_item
        self.ds._train_item = lambda *a: seen.add(threading.get_ident()) or make(*a)
        self.ds.__getitems__(list(range(8)))
        return torch.tensor([cv2.getNumThreads(), torch.get_num_threads(), len(seen)])


@pytest.mark.parametrize("threads", [1, 2])
def test_a_worker_gets_its_share_of_the_threads(monkeypatch, synth, threads):
    monkeypatch.setenv(ENV, str(threads))  # the forked worker inherits it
    records = parse_coco(synth.train_annotations, synth.train_images).records
    ds = DetectionDataset(records, 64, AugmentConfig(), seed=1)
    got = next(iter(DataLoader(_Threads(ds), batch_size=None, num_workers=1)))
    # OpenCV's pool off (reported as 1), torch and the batch's samples on ``threads`` threads
    assert got.tolist() == [1, threads, threads]


def test_samples_made_by_two_threads_equal_those_of_one(monkeypatch, synth):
    """The same batches (pixels, boxes) and one decode per sample, whether a worker makes them in 1 or 2 threads."""
    from yolo12l.data.collate import collate_detections
    from yolo12l.data.sampler import EpochSampler

    records = parse_coco(synth.train_annotations, synth.train_images).records
    runs = {}
    for threads in (1, 2):
        monkeypatch.setenv(ENV, str(threads))
        ds = DetectionDataset(records, 64, AugmentConfig(mixup=0.5), seed=3, mosaic_window=8)
        ds.set_epoch(1)
        loader = DataLoader(ds, batch_size=8, sampler=EpochSampler(ds, seed=ds.seed), num_workers=1,
                            collate_fn=collate_detections)
        runs[threads] = list(loader)
        assert ds.load_stats() == {"samples": 16, "decodes": 16, "decodes_per_sample": 1.0}
    for a, b in zip(*runs.values()):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["targets"], b["targets"])
        assert [m["index"] for m in a["meta"]] == [m["index"] for m in b["meta"]]


def test_the_datamodule_argument_sets_the_threads_before_the_environment(monkeypatch, synth, tmp_path):
    """``worker_threads`` (a DataModule argument, so a config can set it) wins over ``$YOLO12L_WORKER_THREADS`` in
    the training set's workers; a bad value is the usual one-line error."""
    from yolo12l.data import CocoDataModule

    def dm(threads):
        return CocoDataModule(synth.train_annotations, synth.train_images, synth.val_annotations, synth.val_images,
                              imgsz=64, cache_dir=tmp_path, worker_threads=threads)

    monkeypatch.setenv(ENV, "1")
    data = dm(2)
    data.setup("fit")
    ds = data.datasets["train"]
    assert ds.worker_threads == 2
    got = next(iter(DataLoader(_Threads(ds), batch_size=None, num_workers=1)))
    assert got.tolist() == [1, 2, 2]
    with pytest.raises(ConfigError, match="worker_threads"):
        dm(0)
