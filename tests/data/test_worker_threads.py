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
    """Makes a real training sample, then reports the worker's OpenCV and torch threads."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return 2

    def __getitem__(self, i):
        self.ds[i]
        return torch.tensor([cv2.getNumThreads(), torch.get_num_threads()])


def test_a_worker_gets_its_share_of_the_threads(monkeypatch, synth):
    monkeypatch.setenv(ENV, "2")  # the forked workers inherit it
    records = parse_coco(synth.train_annotations, synth.train_images).records
    ds = DetectionDataset(records, 64, AugmentConfig(), seed=1)
    got = next(iter(DataLoader(_Threads(ds), batch_size=2, num_workers=1)))
    assert got.tolist() == [[2, 2], [2, 2]]
    monkeypatch.setenv(ENV, "1")  # one thread: OpenCV's pool off (getNumThreads() then reports 1)
    got = next(iter(DataLoader(_Threads(ds), batch_size=2, num_workers=1)))
    assert got.tolist() == [[1, 1], [1, 1]]
