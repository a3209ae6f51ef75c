"""The one timer of the benchmarks: wall and CPU seconds of a block or of repeated calls, medians, load average.

CUDA is synchronised around every timed block when ``device`` is a CUDA device, so the figures include the work
queued inside it. ``cpu_clock`` is ``time.process_time`` (all threads of this process, the default) or
``time.thread_time`` (the calling thread only, for code that must not count other threads' work).
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

if TYPE_CHECKING:
    import torch


def sync(device: str | torch.device = "cpu") -> None:
    """Waits for queued CUDA work when ``device`` is a CUDA device; nothing otherwise (torch is imported only
    then, so that start-up benchmarks measure their own imports)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class Stopwatch:
    """Wall and CPU seconds of a block: ``with Stopwatch() as sw: ...`` then ``sw.wall`` / ``sw.cpu``; or
    ``sw.start()`` … ``sw.stop()`` (returns ``(wall, cpu)``) across callbacks."""

    def __init__(self, device: str | torch.device = "cpu", cpu_clock: Callable[[], float] = time.process_time):
        self.device, self.cpu_clock = device, cpu_clock
        self.wall = self.cpu = float("nan")

    def start(self) -> Stopwatch:
        sync(self.device)
        self._t0, self._c0 = time.perf_counter(), self.cpu_clock()
        return self

    def stop(self) -> tuple[float, float]:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter() - self._t0, self.cpu_clock() - self._c0
        return self.wall, self.cpu

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class Timings:
    """Seconds of each timed call: ``wall[i]``, ``cpu[i]``."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, sw: Stopwatch) -> None:
        self.wall.append(sw.wall)
        self.cpu.append(sw.cpu)


def timeit(fn: Callable[[], Any], reps: int, device: str | torch.device = "cpu",
           cpu_clock: Callable[[], float] = time.process_time) -> Timings:
    """Wall and CPU seconds of ``reps`` calls of ``fn`` (no warm-up: call it first where that matters)."""
    out = Timings()
    for _ in range(reps):
        with Stopwatch(device, cpu_clock) as sw:
            fn()
        out.add(sw)
    return out


def median(xs: Any) -> float:
    """Median of an iterable of numbers; NaN when it is empty."""
    xs = list(xs)
    return float(statistics.median(xs)) if xs else float("nan")


def median_ratio(ours: list[float], theirs: list[float]) -> float:
    """Median of the per-pair ratios ``ours[i] / theirs[i]`` (neighbouring calls: robust to drifting load)."""
    return median(a / b for a, b in zip(ours, theirs))


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def children_cpu_time() -> float:
    """User + system CPU seconds of this process's finished child processes (a ``cpu_clock`` for subprocesses)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
