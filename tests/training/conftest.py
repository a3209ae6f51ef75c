"""Helpers for the training tests: a tiny synthetic dataset shared by the session, and running the scripts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def script_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this checkout first on PYTHONPATH, one torch thread per process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def check(proc: subprocess.CompletedProcess | subprocess.Popen, expect: int = 0, out: str = "") -> None:
    """Asserts the return code, showing the end of the process's output on failure."""
    assert proc.returncode == expect, f"exit code {proc.returncode} (expected {expect}):\n{out[-6000:]}"


def run(args: list[str], timeout: float = 240, expect: int = 0, **env: str) -> subprocess.CompletedProcess:
    """Runs a command (``python`` = this interpreter) with :func:`script_env`, output captured."""
    cmd = [sys.executable if a == "python" else a for a in args]
    proc = subprocess.run(cmd, cwd=REPO, env=script_env(**env), capture_output=True, text=True, timeout=timeout)
    check(proc, expect, proc.stdout + proc.stderr)
    return proc


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """Cache folder holding the synthetic dataset used by the scripts' defaults (16 train / 8 val images)."""
    from yolo12l.data import SyntheticDataModule

    cache = tmp_path_factory.mktemp("synth-cache")
    SyntheticDataModule(num_train=16, num_val=8, seed=0, cache_dir=cache)  # generate once, before any subprocess
    return cache


@pytest.fixture(autouse=True)
def _one_thread():
    """In-process fits use one intra-op thread: the CI box is small and shared; oversubscription only slows it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
