"""Threads inside a DataLoader worker: the process's CPUs shared among the workers.

torch gives every worker one thread and a worker switches OpenCV's pool off. With fewer workers than CPUs that
leaves cores idle: at 1 worker on 2 cores the main process mostly waits for batches while the single worker runs
sequentially. :func:`worker_thread_budget` is ``usable CPUs // num_workers`` (at least 1).
:func:`configure_worker_threads` (called once per worker process by the training datasets) gives torch that many
threads and returns the budget; ``DetectionDataset.__getitems__`` then makes a batch's samples in that many threads
(OpenCV's calls release the GIL; each sample is made by one thread from its own seeded generators, so it does not
depend on the thread). OpenCV's own pool stays off in workers: per-call parallelism of the small 640 px operations
gained nothing measurable, and it would compete with the sample threads.

The DataModules' ``worker_threads`` argument sets the budget (e.g. ``1`` when the main process trains on the same
CPUs); without it ``YOLO12L_WORKER_THREADS=N`` does, for every run in that environment.
"""
from __future__ import annotations

import os

import cv2
import torch

from ..errors import ConfigError

ENV = "YOLO12L_WORKER_THREADS"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_thread_budget(num_workers: int) -> int:
    """Threads per DataLoader worker: ``$YOLO12L_WORKER_THREADS`` if set, else ``usable_cpus() // num_workers``
    (at least 1). A bad ``$YOLO12L_WORKER_THREADS`` is a :class:`ConfigError` (the training datasets check it when
    they are built, before any worker starts)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{ENV} must be a whole number of threads >= 1, got {env!r}")
        return n
    return max(1, usable_cpus() // max(1, int(num_workers)))


def configure_worker_threads(threads: int | None = None) -> int | None:
    """In a DataLoader worker: OpenCV sequential (``cv2.setNumThreads(0)``), torch ``threads`` threads (None:
    :func:`worker_thread_budget`); returns them (the sample threads to use). Elsewhere (the main process) changes
    nothing and returns None."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return None
    threads = int(threads) if threads else worker_thread_budget(info.num_workers)
    cv2.setNumThreads(0)
    torch.set_num_threads(threads)
    return threads
