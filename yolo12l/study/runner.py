"""One training run of a study: its folder, its resolved fit config, the ``fit`` subprocess, its results.

A run folder (``out/runs/<variant>/seed<k>/`` for compare, ``out/trials/trial<N>/`` for tune) holds

* ``config.yaml`` — the complete LightningCLI config of the run (the base configs with every override applied,
  ``seed_everything`` and ``trainer.default_root_dir`` set to the folder), written before training:
  ``yolo12l fit --config <folder>/config.yaml`` reproduces the run by hand;
* ``logs/version_N/`` — what the fit writes (checkpoints, ``val_metrics.jsonl``); a resumed fit adds a version;
* ``fit.log`` — the fit's console output (appended per attempt);
* ``result.json`` once the fit exited 0 (the run is finished), or ``failed.json`` with its exit status.

Fits run as subprocesses that die with the driver (Linux: ``PR_SET_PDEATHSIG``), so a ``kill -9`` of the driver
leaves finished runs finished and the others resumable from their ``last.ckpt``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .config import override_args

METRIC_KEYS = ("mAP50-95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large")


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def resolve_fit_config(bases: list[Path], overrides: dict[str, Any], seed: int | None, root: Path) -> dict[str, Any]:
    """The complete fit config (LightningCLI ``--print_config``, parsed in this process: nothing is built) of
    ``fit --config base… <overrides>`` with ``seed_everything`` and ``trainer.default_root_dir`` = ``root``.
    A bad key or value raises the parser's error (``yolo12l compare: error: …``) before anything trains."""
    from ..training.lightning_cli import lightning_main

    args = ["fit", *[a for b in bases for a in ("--config", str(b))], *override_args(overrides),
            "--trainer.default_root_dir", str(root)]
    if seed is not None:
        args += ["--seed_everything", str(seed)]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            lightning_main([*args, "--print_config"])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
    return yaml.safe_load(buf.getvalue())


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()  # looked up here: the child between fork and exec only calls it (no import, no lookup)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the driver dies, even by SIGKILL


class RunFolder:
    """The files of one run (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    result_file = property(lambda self: self.path / "result.json")
    failed_file = property(lambda self: self.path / "failed.json")
    log_file = property(lambda self: self.path / "fit.log")

    def versions(self) -> list[Path]:
        """``logs/version_N`` folders, by N."""
        found = [p for p in (self.path / "logs").glob("version_*") if p.name[8:].isdigit()]
        return sorted(found, key=lambda p: int(p.name[8:]))

    def last_checkpoint(self) -> Path | None:
        """The newest ``last.ckpt`` (the highest version that has one), to resume from."""
        for v in reversed(self.versions()):
            if (v / "checkpoints" / "last.ckpt").is_file():
                return v / "checkpoints" / "last.ckpt"
        return None

    def val_records(self) -> list[dict[str, Any]]:
        """Per-epoch validation records of every attempt, one per epoch (a resumed attempt's record of an epoch
        replaces the earlier one), by epoch."""
        by_epoch: dict[int, dict[str, Any]] = {}
        for v in self.versions():
            f = v / "val_metrics.jsonl"
            if f.is_file():
                for line in f.read_text().splitlines():
                    if line.strip():
                        rec = json.loads(line)
                        by_epoch[int(rec["epoch"])] = rec
        return [by_epoch[e] for e in sorted(by_epoch)]

    def result(self) -> dict[str, Any] | None:
        return json.loads(self.result_file.read_text()) if self.result_file.is_file() else None

    def finished(self) -> bool:
        return self.result_file.is_file()

    def write_config(self, config: dict[str, Any]) -> None:
        write_atomic(self.config, yaml.safe_dump(config, sort_keys=False))

    def collect(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """``result.json`` from the run's files: the final epoch's validation (the EMA weights the fit validates
        with), the per-epoch mAP50-95 curve and the checkpoint."""
        records = self.val_records()
        if not records:
            raise RuntimeError(f"{self.path}: the fit finished without a validation record")
        final = records[-1]
        config = yaml.safe_load(self.config.read_text())
        last = self.last_checkpoint()
        hp = {}
        if last is not None:  # the network as trained: model YAML, scale and the classes linked from the data
            import torch

            hp = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get("hyper_parameters", {})
        result = {"epochs": final["epoch"] + 1, "max_epochs": config["trainer"].get("max_epochs"),
                  "seed": config.get("seed_everything"), "model": hp.get("model", config["model"]["model"]),
                  "scale": hp.get("scale"), "num_classes": hp.get("num_classes"),
                  "final": {k: final[k] for k in METRIC_KEYS if k in final}, "evaluated": "final epoch, EMA weights",
                  "curve": [[r["epoch"], r["mAP50-95"]] for r in records],
                  "checkpoint": str(last) if last else None, **(extra or {})}
        write_atomic(self.result_file, json.dumps(result, indent=1))
        with contextlib.suppress(FileNotFoundError):
            self.failed_file.unlink()
        return result


def run_fit(folder: RunFolder, env: dict[str, str] | None = None, keep_going: Callable[[], bool] | None = None,
            poll_s: float = 1.0) -> int:
    """Runs ``yolo12l fit --config <folder>/config.yaml`` (``--ckpt_path`` its ``last.ckpt`` when there is one) in a
    subprocess, output appended to ``fit.log``; returns its exit status. ``keep_going()`` is polled: when it turns
    False the fit is stopped (SIGTERM, then SIGKILL) and -15 returned."""
    cmd = [sys.executable, "-m", "yolo12l.cli", "fit", "--config", str(folder.config)]
    last = folder.last_checkpoint()
    if last is not None:
        cmd += ["--ckpt_path", str(last)]
    folder.path.mkdir(parents=True, exist_ok=True)
    with folder.log_file.open("a") as log:
        log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        log.flush()
        # its own session: the driver can stop the fit and every process it started (DDP ranks) as a group
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=os.name == "posix",
                                preexec_fn=_die_with_parent if _PRCTL is not None else None)  # noqa: PLW1509
        try:
            while proc.poll() is None:
                if keep_going is not None and not keep_going():
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return -15
                time.sleep(poll_s)
        except BaseException:  # Ctrl-C of the driver: stop the fit too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    return proc.returncode


def log_tail(folder: RunFolder, lines: int = 15) -> str:
    if not folder.log_file.is_file():
        return ""
    return "\n".join(folder.log_file.read_text(errors="replace").splitlines()[-lines:])


def record_failure(folder: RunFolder, rc: int) -> None:
    write_atomic(folder.failed_file, json.dumps({"returncode": rc, "log": str(folder.log_file),
                                                 "tail": log_tail(folder)}, indent=1))
