"""ModelEMA: the averaged weights follow decay·(1 − e^(−(n+1)/tau)) update by update (n = earlier updates)."""
from __future__ import annotations

import math

import lightning as L
import torch

from yolo12l.data import SyntheticDataModule
from yolo12l.training import ModelEMA, YOLODetector
from yolo12l.training.config import EvalConfig, OptimConfig


class RawWeights(L.Callback):
    def __init__(self) -> None:
        self.after_step: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after_step.append([t.detach().clone() for t in [*pl_module.net.parameters(), *pl_module.net.buffers()]
                                if t.is_floating_point()])


def test_ema_follows_the_decay_ramp(synth_cache, tmp_path):
    torch.manual_seed(0)
    dm = SyntheticDataModule(num_train=12, num_val=4, seed=0, imgsz=64, batch_size=4, num_workers=0,
                             pin_memory=False, cache_dir=synth_cache)
    model = YOLODetector("yolo12n.yaml", num_classes=dm.num_classes, class_names=dm.class_names, summary_imgsz=0,
                         optim=OptimConfig(optimizer="SGD", warmup_epochs=0, nominal_batch_size=4),
                         evaluation=EvalConfig(save_plots=False))
    ema, raw = ModelEMA(decay=0.9, tau=1.5), RawWeights()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[ema, raw], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 3 and len(raw.after_step) == 3

    expected = [w.clone() for w in raw.after_step[0]]  # the first update copies
    for n, weights in enumerate(raw.after_step[1:], start=1):
        d = 0.9 * (1 - math.exp(-(n + 1) / 1.5))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights)]
    averaged = [t for t in [*model.net.parameters(), *model.net.buffers()] if t.is_floating_point()]  # swapped in
    assert len(averaged) == len(expected)
    assert any(not torch.equal(a, raw.after_step[-1][i]) for i, a in enumerate(averaged))  # really an average
    for a, e in zip(averaged, expected):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)
    assert int(ema._average_model.n_averaged) == 3
