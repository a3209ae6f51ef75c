"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch


def timeit(fn: Callable[[], Any], reps: int, device: str = "cpu") -> list[float]:
    """Wall seconds of ``reps`` calls of ``fn`` (CUDA synchronised around each call)."""
    times = []
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def write_json(record: dict[str, Any], path: str | Path) -> Path:
    """Writes ``record`` as indented JSON (creating folders) and says where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return out
