"""Threads of OpenCV and torch inside a DataLoader worker: the process's CPUs shared among the workers.

torch gives every worker one thread, and a worker used to switch OpenCV's pool off as well. With fewer workers than
CPUs that leaves cores idle: at 1 worker on 2 cores the main process mostly waits for batches while the single
worker runs sequentially. :func:`worker_thread_budget` is ``usable CPUs // num_workers`` (at least 1), and
:func:`configure_worker_threads` (called once per worker process by the training datasets) gives that many threads to
OpenCV (``cv2.setNumThreads``; 0, i.e. sequential, for a budget of 1) and to torch. Every OpenCV / torch operation the
pipeline runs splits its work by rows, so the pixels do not depend on the number of threads (the batch-identity
tests run at 0 and 2 workers).

``YOLO12L_WORKER_THREADS=N`` overrides the budget (e.g. ``1`` when the main process trains on the same CPUs).
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


def configure_worker_threads() -> int | None:
    """In a DataLoader worker: sets OpenCV's and torch's threads to :func:`worker_thread_budget` and returns it;
    elsewhere (the main process) changes nothing and returns None."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return None
    threads = worker_thread_budget(info.num_workers)
    cv2.setNumThreads(threads if threads > 1 else 0)  # 0: no pool at all (as before for one thread)
    torch.set_num_threads(threads)
    return threads
