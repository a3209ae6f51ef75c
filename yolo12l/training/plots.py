"""Training plots as a Lightning callback: label statistics at the start of fit, the first training batches with
their boxes, and ``results.png`` (losses, learning rates and mAP per epoch) drawn when the run ends.

All go to ``<log_dir>/plots/`` (rank 0) and, where a ``TensorBoardLogger`` is configured, to TensorBoard as images.
The per-epoch history is the logged metrics (``trainer.callback_metrics``: the epoch mean of each ``train/*`` loss
over its batches, ``val/*`` after validation) plus each optimizer group's learning rate; it is part of the
callback's checkpoint state, so a resumed run's ``results.png`` continues the curve.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from ..metrics.plots import save_figure
from .progress import EpochLossMeans
from .reports import report_file

log = logging.getLogger(__name__)
TRAIN_BATCHES_PLOTTED = 3


def log_images(loggers: Iterable[Any], images: Mapping[str, Path], step: int) -> None:
    """Adds each saved picture (PNG / JPEG path) to every TensorBoard logger under its tag."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from ..metrics.plots import figure_to_array

    boards = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if not boards:
        return
    for tag, path in images.items():
        try:
            arr = figure_to_array(path)
        except Exception as err:  # a picture that cannot be read back is not worth stopping a run
            log.warning("could not add %s to TensorBoard: %s", path, err)
            continue
        for board in boards:
            board.experiment.add_image(tag, arr, step, dataformats="HWC")


def plot_label_stats(boxes: np.ndarray, labels: np.ndarray, sizes: np.ndarray, names: Sequence[str],
                     path: str | Path) -> Path:
    """Instances per class, and histograms of box centre position and box size (normalised by the image size).

    boxes (N, 4) xyxy pixels, labels (N,), sizes (N, 2) (width, height) of each box's image.
    """
    from matplotlib.figure import Figure

    nc = len(names)
    counts = np.bincount(labels.astype(np.int64), minlength=nc)[:nc] if len(labels) else np.zeros(nc, np.int64)
    wh = sizes.astype(np.float64) if len(sizes) else np.ones((0, 2))
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / wh[:, 0] if len(boxes) else np.zeros(0)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / wh[:, 1] if len(boxes) else np.zeros(0)
    bw = (boxes[:, 2] - boxes[:, 0]) / wh[:, 0] if len(boxes) else np.zeros(0)
    bh = (boxes[:, 3] - boxes[:, 1]) / wh[:, 1] if len(boxes) else np.zeros(0)
    fig = Figure(figsize=(11, 9), dpi=100)
    (a, b), (c, d) = fig.subplots(2, 2)
    a.bar(range(nc), counts, color="tab:blue")
    a.set_title(f"instances per class ({int(counts.sum())} boxes, {int((counts > 0).sum())}/{nc} classes)")
    a.set_ylabel("instances")
    if nc <= 40:
        a.set_xticks(range(nc), names, rotation=90, fontsize=max(5, 10 - nc // 6))
    else:
        a.set_xlabel("class index")
    b.hist2d(cx, cy, bins=40, range=[[0, 1], [0, 1]], cmap="Blues")
    b.set_title("box centres")
    b.set_xlabel("x")
    b.set_ylabel("y")
    b.invert_yaxis()  # image coordinates: y down
    c.hist2d(bw, bh, bins=40, range=[[0, 1], [0, 1]], cmap="Blues")
    c.set_title("box sizes")
    c.set_xlabel("width")
    c.set_ylabel("height")
    d.hist(np.sqrt(np.clip(bw * bh, 0, None)), bins=50, range=(0, 1), color="tab:orange")
    d.set_title("box size sqrt(w·h)")
    d.set_xlabel("fraction of the image side")
    d.set_ylabel("boxes")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_results(history: Sequence[Mapping[str, float]], path: str | Path) -> Path:
    """One panel per metric of ``history`` (one dict per epoch, ``epoch`` plus metric values) against the epoch:
    train losses, then validation losses / mAP, then learning rates."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = sorted({k for h in history for k in h if k != "epoch"},
                  key=lambda k: (0 if k.startswith("train/") else 2 if k.startswith("lr") else 1, k))
    cols = min(5, max(len(keys), 1))
    rows = max(1, math.ceil(len(keys) / cols))
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows), dpi=100)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    epochs = [h.get("epoch", i) for i, h in enumerate(history)]
    for ax, key in zip(axes, keys):
        xs = [e for e, h in zip(epochs, history) if key in h]
        ys = [h[key] for h in history if key in h]
        ax.plot(xs, ys, marker=".", linewidth=1.5, label=key)
        ax.set_title(key, fontsize=9, pad=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even for one
        if len(set(xs)) == 1:
            ax.set_xlim(xs[0] - 1, xs[0] + 1)
        ax.tick_params(labelsize=7)
        if key.startswith("lr"):
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in axes[len(keys):]:
        ax.axis("off")
    fig.suptitle("results per epoch")
    fig.tight_layout()
    return save_figure(fig, path)


def final_epoch(trainer: L.Trainer) -> bool:
    """True outside ``fit`` and, during ``fit``, at the last epoch or when the run is stopping."""
    if trainer.state.fn != "fit":
        return True
    last_epoch = trainer.max_epochs is not None and trainer.max_epochs > 0 and \
        trainer.current_epoch + 1 >= trainer.max_epochs
    last_step = trainer.max_steps is not None and 0 < trainer.max_steps <= trainer.global_step
    return bool(trainer.should_stop or last_epoch or last_step)


class TrainingPlots(L.Callback):
    """``labels.png`` at the start of fit, ``train_batch{0,1,2}.jpg`` (the first batches this run trains on, with
    their targets) and ``results.png`` when the run ends (last epoch or a stop, after its checkpoints), all in
    ``<log_dir>/plots``; the per-epoch history it draws is kept (and checkpointed) every epoch."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self._losses = EpochLossMeans()
        self._batches_plotted = 0

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    @staticmethod
    def _folder(trainer: L.Trainer) -> Path | None:
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank asks
        return Path(log_dir) / "plots" if log_dir and trainer.is_global_zero else None

    @staticmethod
    def _names(pl_module: L.LightningModule) -> list[str]:
        names = getattr(getattr(pl_module, "net", None), "names", None) or {}
        return [names[i] for i in range(len(names))]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = self._folder(trainer)
        ds = getattr(getattr(trainer, "datamodule", None), "datasets", {}).get("train")
        records = getattr(ds, "records", None)
        if folder is None or not records:
            return
        path = folder / "labels.png"
        with report_file(path):
            boxes = np.concatenate([r.boxes.reshape(-1, 4) for r in records]).astype(np.float64)
            labels = np.concatenate([r.labels for r in records])
            sizes = np.concatenate([np.tile([r.width, r.height], (len(r.boxes), 1)) for r in records]).reshape(-1, 2)
            plot_label_stats(boxes, labels, sizes, self._names(pl_module), path)
            log_images(pl_module.loggers, {"train_plots/labels": path}, trainer.global_step)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._losses.reset()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._losses.add(outputs)
        if self._batches_plotted >= TRAIN_BATCHES_PLOTTED:
            return
        self._batches_plotted += 1
        folder = self._folder(trainer)
        if folder is None or not isinstance(batch, dict) or "images" not in batch:
            return
        from ..data.visualize import plot_batch

        path = folder / f"train_batch{self._batches_plotted - 1}.jpg"
        with report_file(path):
            plot_batch(batch, self._names(pl_module), path)
            log_images(pl_module.loggers, {f"train_plots/{path.stem}": path}, trainer.global_step)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook: val/* are this epoch's
        row: dict[str, float] = {"epoch": int(trainer.current_epoch)}
        row.update({f"train/{k}": v for k, v in self._losses.means().items()})
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/"):
                row[key] = float(value)
        for i, opt in enumerate(trainer.optimizers):
            for j, group in enumerate(opt.param_groups):
                row[f"lr/pg{j}" if i == 0 else f"lr/opt{i}_pg{j}"] = float(group["lr"])
        self._losses.reset()
        self.history = [h for h in self.history if h.get("epoch") != row["epoch"]] + [row]

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """``results.png`` once the run ends (last epoch or a stop), after the last epoch's checkpoints."""
        folder = self._folder(trainer)
        if folder is not None and self.history:
            path = folder / "results.png"
            with report_file(path):
                plot_results(self.history, path)
                log_images(pl_module.loggers, {"train_plots/results": path}, trainer.global_step)
