"""What a training run shows on the console, and where its logs go.

:class:`YOLOProgressBar` is Lightning's tqdm bar on a terminal; on anything else (CI logs, ``nohup``, a pipe) the
bars are off, since thousands of carriage-return updates make such logs unreadable. In both cases one line per
epoch stays, after its validation::

    epoch   3/35  box 1.254  cls 2.031  dfl 1.198  val mAP50-95 0.212  mAP50 0.401  6.1 s  ETA 3m15s
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from .run_folder import ResumableCSVLogger

LOSS_KEYS = ("box_loss", "cls_loss", "dfl_loss")


class EpochLossMeans:
    """Running epoch means of the step outputs' ``loss_items`` (box, cls, dfl), summed on the device (no host read
    per batch); a skipped non-finite batch's values are left out. Read with :meth:`means` (one host read)."""

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None  # (2, 3): sums of the finite values and their counts

    def reset(self) -> None:
        self._sum = None

    def add(self, outputs: Any) -> None:
        """Adds a training step's outputs (the dict ``YOLODetector.training_step`` returns; others are ignored)."""
        items = outputs.get("loss_items") if isinstance(outputs, dict) else None
        if not isinstance(items, torch.Tensor) or items.numel() != len(LOSS_KEYS):
            return
        items = items.detach().float().reshape(-1)
        finite = torch.isfinite(items)
        step = torch.stack((torch.where(finite, items, 0.0), finite.float()))
        self._sum = step if self._sum is None else self._sum + step.to(self._sum.device)

    def means(self) -> dict[str, float]:
        """``{"box_loss": mean, ...}`` for the losses with at least one finite value this epoch."""
        if self._sum is None:
            return {}
        sums, counts = self._sum.tolist()
        return {k: t / n for k, t, n in zip(LOSS_KEYS, sums, counts) if n}


def default_loggers(root: str | Path, version: int | None = None) -> list[Logger]:
    """TensorBoard (``<root>/logs/version_N``: events, config.yaml, checkpoints, plots) and CSV (``<root>/csv``);
    ``version``: continue that run folder (a resumed fit), else the next free one."""
    return [TensorBoardLogger(save_dir=str(root), name="logs", version=version),
            ResumableCSVLogger(save_dir=str(root), name="csv", version=version)]


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class YOLOProgressBar(TQDMProgressBar):
    """tqdm bars on a terminal, none elsewhere; one summary line per epoch in both cases.

    Args:
        bars: ``True``/``False`` forces the bars on/off; ``None`` (default) shows them when stdout is a terminal.
        refresh_rate: batches between bar updates.
    """

    def __init__(self, bars: bool | None = None, refresh_rate: int = 1):
        super().__init__(refresh_rate=refresh_rate, leave=False)
        self.bars = sys.stdout.isatty() if bars is None else bars
        if not self.bars:
            self.disable()
        self._losses = EpochLossMeans()
        self._epoch_start = 0.0
        self._fit_start = 0.0
        self._epochs_timed = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._fit_start = time.monotonic()
        self._epochs_timed = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._losses.reset()
        self._epoch_start = time.monotonic()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """The bar's postfix: Lightning's values plus the epoch's mean losses (read on the host only here, at a bar
        refresh)."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.update({k.split("_")[0]: f"{v:.3f}" for k, v in self._losses.means().items()})
        return metrics

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._losses.add(outputs)  # from the step's outputs: ``trainer.callback_metrics`` would read on the host
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.print_line(self.epoch_line(trainer))

    def epoch_line(self, trainer: L.Trainer) -> str:
        """The summary of the epoch just finished (losses averaged over its batches, the latest validation)."""
        now = time.monotonic()
        self._epochs_timed += 1
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        parts = [f"epoch {epoch:>3}/{total}" if total and total > 0 else f"epoch {epoch:>3}"]
        means = self._losses.means()
        if means:
            parts.append("  ".join(f"{k.split('_')[0]} {means[k]:.3f}" if k in means else f"{k.split('_')[0]} nan"
                                   for k in LOSS_KEYS))
        metrics = trainer.callback_metrics
        val = [(k, float(metrics[f"val/{k}"])) for k in ("mAP50-95", "mAP50") if f"val/{k}" in metrics]
        if val:
            parts.append("val " + "  ".join(f"{k} {v:.3f}" for k, v in val))
        parts.append(f"{now - self._epoch_start:.1f} s")
        if total and total > 0 and epoch < total:
            per_epoch = (now - self._fit_start) / self._epochs_timed
            parts.append(f"ETA {format_duration(per_epoch * (total - epoch))}")
        return "  ".join(parts)

    def print_line(self, line: str) -> None:
        if self.bars:
            self.print(line)  # above the bars (tqdm.write)
        else:
            print(line, flush=True)
