"""Paths, environment and result files shared by every benchmark and check (run through ``python -m benchmarks``).

* ``REPO``: the repository root (this file's grandparent);
* ``shared_dir()``: ``$YOLO12L_SHARED`` (default ``../shared`` beside the repository): datasets and references;
* ``ul_python()``: ``$YOLO12L_UL_PYTHON`` (default ``.venv-ul/bin/python`` in the repository, as
  ``scripts/setup_ultralytics.sh`` makes it): the interpreter that has ultralytics and sahi;
* ``result_path(bench, condition)``: ``benchmarks/results/<bench>-<condition>.json``, the naming rule of every
  result file;
* ``module_command`` / ``child_env``: how a benchmark starts a fresh process of itself (``python -m benchmarks.x``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
REEXEC_FLAG = "YOLO12L_BENCH_REEXEC"  # set in a re-executed child: never re-execute twice
RESULT_NAME = re.compile(r"^(?P<bench>[a-z0-9_]+)-(?P<condition>[a-z0-9_]+)\.(json|png)$")


def shared_dir() -> Path:
    """The shared data folder: ``$YOLO12L_SHARED`` or ``../shared`` next to the repository."""
    return Path(os.environ.get("YOLO12L_SHARED") or REPO.parent / "shared")


def ul_python() -> Path:
    """The Ultralytics venv's interpreter: ``$YOLO12L_UL_PYTHON`` or ``.venv-ul/bin/python`` in the repository."""
    value = os.environ.get("YOLO12L_UL_PYTHON")
    return Path(value) if value else REPO / ".venv-ul" / "bin" / "python"


def result_path(bench: str, condition: str = "default", suffix: str = ".json") -> Path:
    """``benchmarks/results/<bench>-<condition><suffix>``; both parts lower case, digits and ``_``."""
    path = RESULTS / f"{bench}-{condition}{suffix}"
    if not RESULT_NAME.match(path.name):
        raise ValueError(f"result name {path.name!r} breaks the rule <bench>-<condition>.json ([a-z0-9_]+ each)")
    return path


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository first on ``PYTHONPATH`` (so children import this checkout)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def module_command(module: str, python: str | Path | None = None) -> list[str]:
    """``[python, "-m", module]`` (default: this interpreter); run it with ``env=child_env()``."""
    return [str(python or sys.executable), "-m", module]


def portable(value: Any) -> Any:
    """``value`` (nested dicts / lists / strings) with this machine's repository path written ``.`` and the shared
    folder ``$YOLO12L_SHARED`` and the home folder ``~`` (generated sets under ``~/.cache/yolo12l``), so that result
    files name no absolute path of one machine."""
    if isinstance(value, str):
        for prefix, name in ((str(shared_dir().resolve()), "$YOLO12L_SHARED"), (str(shared_dir()), "$YOLO12L_SHARED"),
                             (str(REPO), "."), (str(Path.home()) + os.sep, "~" + os.sep)):
            value = value.replace(prefix, name)
        return value
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    return value


def write_json(record: dict[str, Any], path: str | Path) -> Path:
    """Writes ``record`` (paths made portable) as indented JSON, creating folders, and says where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(portable(record), indent=2) + "\n")
    print(f"wrote {out}")
    return out


def micro_options(ap: argparse.ArgumentParser, bench: str, reps: int, warmup: int) -> None:
    """The options every micro-benchmark takes: ``--device``, ``--threads`` (``torch.set_num_threads``; default
    torch's), ``--reps``, ``--warmup`` and ``--out`` (default ``benchmarks/results/<bench>-default.json``)."""
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--out", default=str(result_path(bench)))


def parse_micro(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """Parses the command line and applies ``--threads``."""
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args


def usage_error(message: str) -> SystemExit:
    """Prints ``python -m benchmarks: error: <message>`` and returns the ``SystemExit(2)`` to raise."""
    print(f"python -m benchmarks: error: {message}", file=sys.stderr)
    return SystemExit(2)


def reexec_under_ultralytics(name: str, args: list[str], required: bool = True) -> None:
    """Replaces this process by ``$YOLO12L_UL_PYTHON -m benchmarks <name> <args>`` when ultralytics is not
    importable here; returns when it is (or, with ``required=False``, when there is no such interpreter)."""
    if importlib.util.find_spec("ultralytics") is not None:
        return
    if os.environ.get(REEXEC_FLAG):  # already the re-executed child
        if required:
            raise usage_error(f"{name} needs ultralytics, which {sys.executable} cannot import")
        return
    python = ul_python()
    if not python.is_file():
        if required:
            raise usage_error(f"{name} needs ultralytics: {python} does not exist (make it with "
                              f"`bash scripts/setup_ultralytics.sh` or set YOLO12L_UL_PYTHON)")
        print(f"note: ultralytics is not importable and {python} does not exist: only yolo12l's rows",
              file=sys.stderr)
        return
    cmd = module_command("benchmarks", python) + [name, *args]
    env = child_env(YOLO_OFFLINE=os.environ.get("YOLO_OFFLINE", "1"), **{REEXEC_FLAG: "1"})
    print(f"re-running under {python} (ultralytics)", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(str(python), cmd, env)
