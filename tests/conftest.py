"""Shared fixtures: where ../shared lives, and a skip-or-fail policy when it does not."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # with one xdist worker per core, torch threads inside each worker would only wait on each other
    import torch

    torch.set_num_threads(int(os.environ.get("YOLO12L_TEST_THREADS", "1")))


def shared_root() -> Path:
    """The folder holding ``datasets/`` and ``reference/`` (env ``YOLO12L_SHARED``, default ``../shared``)."""
    return Path(os.environ.get("YOLO12L_SHARED", REPO.parent / "shared")).resolve()


def require_shared(*parts: str) -> Path:
    """Path under the shared folder; skips the test when absent, fails when ``YOLO12L_REQUIRE_SHARED=1`` (CI)."""
    p = shared_root().joinpath(*parts)
    if not p.exists():
        msg = f"shared data not found: {p} (set YOLO12L_SHARED)"
        if os.environ.get("YOLO12L_REQUIRE_SHARED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return require_shared("reference", "ultralytics")


@pytest.fixture(scope="session")
def paper_reference_dir() -> Path:
    return require_shared("reference", "yolov12_paper")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return require_shared("datasets")


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: on 2 shared cores one torch thread beats two threads waiting on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
