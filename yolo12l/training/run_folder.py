"""The run folder ``<default_root_dir>/logs/version_N`` across a resume: ``--ckpt_path last`` finds the newest
``last.ckpt`` there, and a fit resumed from a checkpoint inside ``version_N/checkpoints/`` keeps logging into
``version_N`` (TensorBoard events and the CSV rows continue instead of starting ``version_N+1``)."""
from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

log = logging.getLogger("yolo12l.training")
LOGS = "logs"  # <default_root_dir>/logs/version_N (TensorBoard), <default_root_dir>/csv/version_N (CSV)


def find_last_checkpoint(root: str | Path) -> Path | None:
    """The most recently written ``<root>/logs/version_*/checkpoints/last.ckpt``, or None."""
    found = [p for p in Path(root).glob(f"{LOGS}/version_*/checkpoints/last.ckpt") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_version(ckpt_path: str | Path | None, root: str | Path) -> int | None:
    """N when ``ckpt_path`` lies in ``<root>/logs/version_N/checkpoints/``; None otherwise."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).resolve()
    match = re.fullmatch(r"version_(\d+)", path.parent.parent.name) if path.parent.name == "checkpoints" else None
    if match is None or path.parent.parent.parent != (Path(root) / LOGS).resolve():
        return None
    return int(match.group(1))


class _KeepingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that appends to the ``metrics.csv`` of an existing ``version`` (a resumed run)."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and self._fs.isfile(f"{self.log_dir}/{ExperimentWriter.NAME_METRICS_FILE}"):
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return super().experiment
