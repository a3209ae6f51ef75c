"""The optimizer-step trajectory of a real fit equals Ultralytics 8.4.190's (``schedule_auto.json``).

The reference: ``yolo train model=yolo12n.yaml data=shapes_tiny/data.yaml epochs=6 imgsz=64 batch=8
optimizer=auto close_mosaic=2`` (8 batches per epoch), recorded at every optimizer step: the batch index and per
parameter group the lr, momentum (AdamW: beta1), weight decay and number of parameter tensors.
"""
from __future__ import annotations

import json

import lightning as L
import pytest
import torch

from yolo12l.data import YoloDataModule
from yolo12l.training import ModelEMA, YOLODetector
from yolo12l.training.config import EvalConfig, OptimConfig

KINDS = {"weight": "weight", "norm": "bn", "bias": "bias"}  # ours → the reference's group names


class StepRecorder(L.Callback):
    """At every optimizer step: epoch, batch index, global batch index and each group's hyper-parameters."""

    def __init__(self):
        self.steps: list[dict] = []
        self.batch = (0, 0)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batch = (trainer.current_epoch, batch_idx)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        epoch, i = self.batch
        groups = {}
        for g in optimizer.param_groups:
            momentum = g["betas"][0] if "betas" in g else g["momentum"]
            groups[KINDS[g["kind"]]] = {"lr": g["lr"], "momentum": momentum, "weight_decay": g["weight_decay"],
                                        "n_params": len(g["params"])}
        self.steps.append({"epoch": epoch, "batch_in_epoch": i,
                           "global_batch": epoch * trainer.num_training_batches + i, "groups": groups})


def test_fit_reproduces_ultralytics_step_trajectory(reference_dir, datasets_dir, tmp_path):
    ref = json.loads((reference_dir / "schedule_auto.json").read_text())
    args = ref["ultralytics_args"]
    torch.manual_seed(0)
    dm = YoloDataModule(data_yaml=datasets_dir / "shapes_tiny" / "data.yaml", imgsz=args["imgsz"],
                        batch_size=args["batch"], close_mosaic=args["close_mosaic"], num_workers=0,
                        persistent_workers=False, pin_memory=False, cache_dir=tmp_path / "cache")
    model = YOLODetector("yolo12n.yaml", num_classes=dm.num_classes, class_names=dm.class_names,
                         optim=OptimConfig(optimizer=args["optimizer"]), evaluation=EvalConfig(save_plots=False))
    rec = StepRecorder()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=args["epochs"], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[ModelEMA(), rec], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)

    assert trainer.num_training_batches == ref["nb"]
    assert [(s["epoch"], s["batch_in_epoch"], s["global_batch"]) for s in rec.steps] == \
        [(s["epoch"], s["batch_in_epoch"], s["global_batch"]) for s in ref["steps"]]
    for got, want in zip(rec.steps, ref["steps"]):
        assert got["groups"].keys() == want["groups"].keys()
        for kind, w in want["groups"].items():
            g = got["groups"][kind]
            where = f"step at batch {want['global_batch']}, group {kind}"
            assert g["n_params"] == w["n_params"], where
            for key in ("lr", "momentum", "weight_decay"):
                assert g[key] == pytest.approx(w[key], rel=1e-12, abs=1e-15), f"{where}: {key}"
    assert trainer.global_step == len(ref["steps"])


def test_fit_sgd_cosine_trajectory_equals_reference_loop(synth_cache, tmp_path):
    """SGD (momentum warmup, bias-LR warmup), cosine decay, a non-integer nbs/batch and a fractional warmup: the
    steps of a real fit equal the independent model of the reference loop (tests/training/reference_recipe.py)."""
    from yolo12l.data import SyntheticDataModule

    from reference_recipe import reference_loop

    torch.manual_seed(0)
    batch, epochs = 2, 3
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=0, imgsz=64, batch_size=batch, num_workers=0,
                             pin_memory=False, close_mosaic=1, cache_dir=synth_cache)
    hp = dict(optimizer="SGD", lr0=0.02, lrf=0.1, momentum=0.95, weight_decay=1e-3, schedule="cosine",
              warmup_epochs=1.5, warmup_bias_lr=0.05, warmup_momentum=0.7, nominal_batch_size=7)
    model = YOLODetector("yolo12n.yaml", num_classes=dm.num_classes, class_names=dm.class_names,
                         optim=OptimConfig(**hp), evaluation=EvalConfig(save_plots=False))
    rec = StepRecorder()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[rec], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)

    nb = trainer.num_training_batches
    ref = reference_loop(epochs=epochs, nb=nb, batch=batch, nbs=7, lr0=0.02, lrf=0.1, cosine=True, warmup_epochs=1.5,
                         warmup_bias_lr=0.05, warmup_momentum=0.7, momentum=0.95, sgd=True, weight_decay=1e-3,
                         init_momentum=0.95)
    assert nb == 8 and len(ref) > 5
    assert [s["global_batch"] for s in rec.steps] == [ni for ni, _ in ref]
    for got, (ni, want) in zip(rec.steps, ref):
        for kind, (lr, momentum, wd) in want.items():
            g = got["groups"][KINDS[kind]]
            assert (g["lr"], g["momentum"], g["weight_decay"]) == pytest.approx((lr, momentum, wd), rel=1e-12), \
                (ni, kind)
