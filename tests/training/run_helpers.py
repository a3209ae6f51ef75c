"""Running the scripts under scripts/ in subprocesses from the training tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

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


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def assert_same(a, c, path: str = "checkpoint") -> None:
    """Recursive equality of checkpoint contents; tensors to 1e-5 relative (in practice they are bit-equal)."""
    if isinstance(a, dict):
        assert isinstance(c, dict) and a.keys() == c.keys(), f"{path}: keys {set(a) ^ set(c)}"
        for k in a:
            assert_same(a[k], c[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(c, (list, tuple)) and len(a) == len(c), path
        for i, (x, y) in enumerate(zip(a, c)):
            assert_same(x, y, f"{path}[{i}]")
    elif torch.is_tensor(a):
        torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-8, msg=lambda m: f"{path}: {m}")
    else:
        assert a == c or (a != a and c != c), f"{path}: {a!r} != {c!r}"


def assert_same_training_state(a: dict, c: dict) -> None:
    """An uninterrupted run's final checkpoint ``a`` equals a resumed run's ``c``: weights (EMA and raw), EMA,
    optimizer and schedule state, counters, gradient accumulation, the ModelEMA callback's state."""
    # state_dict = EMA weights (WeightAveraging), current_model_state = raw weights: they must differ, or the
    # comparison would not be testing the EMA
    assert any(not torch.equal(a["state_dict"][k], a["current_model_state"][k]) for k in a["state_dict"])
    for key in ("state_dict", "current_model_state", "averaging_state", "optimizer_states", "lr_schedulers",
                "epoch", "global_step", "skipped_steps", "accumulation"):
        assert_same(a[key], c[key], key)
    ema_key = next(k for k in a["callbacks"] if k.startswith("ModelEMA"))
    assert_same(a["callbacks"][ema_key], c["callbacks"][ema_key], "callbacks[ModelEMA]")
