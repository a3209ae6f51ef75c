"""Running the scripts under scripts/ in subprocesses from the training tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

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

