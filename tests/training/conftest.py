"""Fixtures for the training tests: a tiny synthetic dataset shared by the session, one torch thread."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """Cache folder holding the synthetic datasets the scripts use: 16 train images with 8 (train_run.py) or 9
    (ddp_check.py) val images. Generated once here, before any subprocess needs them."""
    from yolo12l.data import SyntheticDataModule

    cache = tmp_path_factory.mktemp("synth-cache")
    for num_val in (8, 9):
        SyntheticDataModule(num_train=16, num_val=num_val, seed=0, cache_dir=cache)
    return cache


@pytest.fixture(autouse=True)
def _one_thread():
    """In-process fits use one intra-op thread: the CI box is small and shared; oversubscription only slows it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
