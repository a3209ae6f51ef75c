"""The training step makes the host wait for the device only where a shape depends on the data.

Counted on CPU with ``HostSyncCounter`` (a dispatch mode that sees every aten op, so it finds on a CPU what
``torch.cuda.set_sync_debug_mode`` would report on a GPU): the whole batch — forward, loss, backward, non-finite
guard, clipping, optimizer step, EMA, training plots, progress line — with only the two ``nonzero`` calls of the loss
(the assigner's candidate pairs and the foreground anchors, which the sparse loss is built on) left.
"""
from __future__ import annotations

import lightning as L
import pytest
import torch

from yolo12l.data import SyntheticDataModule
from yolo12l.training import ModelEMA, YOLODetector
from yolo12l.training.config import EvalConfig, OptimConfig
from yolo12l.training.progress import YOLOProgressBar
from yolo12l.training.host_syncs import HostSyncCounter

ALLOWED = {"yolo12l/losses/assigner.py", "yolo12l/losses/detection_loss.py"}  # the loss's data-dependent shapes


class CountSyncs(L.Callback):
    """Counts host syncs from the start of each training batch to the start of the next (so every callback's
    batch-end work is in), the last window closing at the epoch end."""

    def __init__(self) -> None:
        self.per_batch: list[HostSyncCounter] = []

    def _close(self) -> None:
        if self.per_batch and self.per_batch[-1] is not None:
            self.per_batch[-1].__exit__(None, None, None)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._close()
        self.per_batch.append(HostSyncCounter())
        self.per_batch[-1].__enter__()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._close()


def test_counter_sees_syncs():
    x = torch.arange(6.0)
    with HostSyncCounter() as syncs:
        x.sum().item()
        bool(x.max() > 2)
        x[x > 2]
        x.nonzero()
        x[torch.tensor([0, 1])]  # integer indexing does not sync
        torch.where(x > 2, x, 0.0)
    assert [op for op, _ in syncs.events] == ["_local_scalar_dense", "_local_scalar_dense", "index", "nonzero"]
    assert all(origin.startswith("tests/training/test_host_syncs.py:") for _, origin in syncs.events), syncs.events


@pytest.mark.parametrize("optimizer, clip", [("SGD", 10.0), ("AdamW", 0.0)])
def test_training_step_syncs_only_for_data_dependent_shapes(synth_cache, tmp_path, optimizer, clip):
    torch.manual_seed(0)
    # one loader worker: the main process's dispatch mode then sees the step only, not the CPU-side data work
    dm = SyntheticDataModule(num_train=20, num_val=4, seed=0, imgsz=64, batch_size=4, num_workers=1,
                             pin_memory=False, cache_dir=synth_cache)
    model = YOLODetector("yolo12n.yaml", num_classes=dm.num_classes, class_names=dm.class_names, summary_imgsz=0,
                         optim=OptimConfig(optimizer=optimizer, warmup_epochs=0, nominal_batch_size=4,
                                           grad_clip_norm=clip, fused_optimizer=True),  # the GPU default
                         evaluation=EvalConfig(save_plots=True))
    counter = CountSyncs()
    # with what a fit runs by default: the training plots callback, our progress bar (one line per epoch)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, limit_val_batches=0,
                        callbacks=[ModelEMA(), YOLOProgressBar(bars=False), counter], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)

    assert trainer.global_step == 5 and len(counter.per_batch) == 5
    assert getattr(trainer.optimizers[0], "_step_supports_amp_scaling", False)  # fused: found_inf skips on device
    first = counter.per_batch[0].by_origin()
    assert sum(n for k, n in first.items() if k.startswith("yolo12l/training/ema.py")) == 1, first  # once per fit
    # batch 3: a whole window (batch start to the next batch's start) after the plotted first three batches
    for syncs in counter.per_batch[3:4]:
        where = syncs.by_origin()
        outside = {k: n for k, n in where.items() if k.split(":")[0] not in ALLOWED}
        assert not outside, f"host syncs outside the loss's data-dependent shapes: {outside}"
        assert sorted(op for op, _ in syncs.events) == ["nonzero", "nonzero"], where
