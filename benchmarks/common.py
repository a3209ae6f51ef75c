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

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
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


def write_json(record: dict[str, Any], path: str | Path) -> Path:
    """Writes ``record`` as indented JSON (creating folders) and says where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return out
