"""Non-finite loss or gradients: the optimizer step is skipped, nothing is corrupted, training goes on.

Real (tiny) Lightning fits on CPU with plain SGD + Nesterov momentum + weight decay, where even a zero-gradient step
would move the weights, so "unchanged" really means "skipped".
"""
from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from yolo12l.data import SyntheticDataModule
from yolo12l.training import ModelEMA, YOLODetector
from yolo12l.training.config import EvalConfig, OptimConfig


def _clone(tensors) -> list[torch.Tensor]:
    return [t.detach().clone() for t in tensors]


def _equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _optimizer_state(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v.detach().clone() for g in opt.param_groups for p in g["params"]
            for v in opt.state.get(p, {}).values() if torch.is_tensor(v)]


class Recorder(L.Callback):
    """Marks the faulty batch (``pl_module.fault_now``) and records weights/buffers/optimizer state per batch."""

    def __init__(self, fault_batch: int):
        self.fault_batch = fault_batch
        self.before: dict[int, tuple] = {}
        self.after: dict[int, tuple] = {}

    def _state(self, trainer, pl_module) -> tuple:
        return (_clone(pl_module.net.parameters()), _clone(pl_module.net.buffers()),
                _optimizer_state(trainer.optimizers[0]), trainer.global_step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        pl_module.fault_now = batch_idx == self.fault_batch
        self.before[batch_idx] = self._state(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.fault_now = False
        self.after[batch_idx] = self._state(trainer, pl_module)


def _inject(model: YOLODetector, fault: str) -> None:
    """Instance-level patches that make the marked batch non-finite in the way ``fault`` names."""
    model.fault_now = False
    if fault == "nan_images":  # non-finite input after normalisation: NaN activations, NaN BatchNorm statistics
        forward = model.forward

        def nan_images(images):
            x = images.float() / 255
            if model.fault_now:
                x[0, :, :16, :16] = float("nan")
            return forward(x)

        model.forward = nan_images
    elif fault == "nan_loss":  # finite forward, the criterion returns NaN
        criterion_forward = model.criterion.forward

        def nan_loss(*args, **kwargs):
            total, items = criterion_forward(*args, **kwargs)
            return (total * float("nan"), items) if model.fault_now else (total, items)

        model.criterion.forward = nan_loss
    elif fault == "inf_grad":  # finite loss, one parameter's gradient becomes inf during backward
        param = next(p for n, p in model.net.named_parameters() if n.endswith("conv.weight"))
        param.register_hook(lambda g: torch.full_like(g, math.inf) if model.fault_now else g)
    else:
        raise ValueError(fault)


@pytest.mark.parametrize("fault, accumulate, fault_batch, precision, fused", [
    ("nan_images", 1, 1, "32-true", True),  # fused: the step skipped on the device (found_inf), as on a GPU
    ("nan_loss", 2, 2, "32-true", True),
    ("inf_grad", 1, 2, "32-true", True),
    ("nan_loss", 1, 1, "bf16-mixed", True),  # autocast; the fused optimizer skips on found_inf as in fp32
    ("nan_images", 1, 1, "32-true", None),  # the CPU default: foreach kernels, gradients dropped after a host read
    ("inf_grad", 2, 2, "32-true", None),
])
def test_nonfinite_step_is_skipped(synth_cache, tmp_path, fault, accumulate, fault_batch, precision, fused):
    torch.manual_seed(0)
    batch = 4
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=0, imgsz=64, batch_size=batch, num_workers=0,
                             pin_memory=False, cache_dir=synth_cache)
    model = YOLODetector("yolo12n.yaml", num_classes=dm.num_classes, class_names=dm.class_names,
                         optim=OptimConfig(optimizer="SGD", lr0=0.01, momentum=0.937, weight_decay=5e-4,
                                           warmup_epochs=0, nominal_batch_size=batch * accumulate,
                                           fused_optimizer=fused),
                         evaluation=EvalConfig(save_plots=False))
    _inject(model, fault)
    rec = Recorder(fault_batch)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[ModelEMA(), rec], default_root_dir=tmp_path, precision=precision)
    trainer.fit(model, datamodule=dm)
    assert getattr(trainer.optimizers[0], "_step_supports_amp_scaling", False) == bool(fused)  # fused kernels

    assert model.accumulate == accumulate and trainer.accumulate_grad_batches == 1
    assert model.skipped_steps == 1
    assert trainer.global_step == 4 // accumulate  # the skipped step still counts
    window_start = fault_batch - fault_batch % accumulate  # the optimizer step containing the faulty batch
    window_end = window_start + accumulate - 1
    w0, buf0, opt0, _ = rec.before[window_start]
    w1, buf1, opt1, _ = rec.after[window_end]
    assert _equal(w0, w1), "weights changed by the skipped step"
    assert _equal(opt0, opt1), "optimizer state changed by the skipped step"
    if fault != "inf_grad":  # the forward of a non-finite-loss batch must not leak into the BatchNorm statistics
        assert _equal(rec.before[fault_batch][1], rec.after[fault_batch][1])
    for b in range(4):  # the other optimizer steps did update the weights
        if (b + 1) % accumulate == 0 and not window_start <= b <= window_end:
            assert not _equal(rec.before[b - accumulate + 1][0], rec.after[b][0])
    last_w, last_buf, last_opt, _ = rec.after[3]
    assert all(torch.isfinite(t).all() for t in last_w + last_buf + last_opt)
    assert len(last_opt) > 0  # momentum buffers exist (steps before/after the skipped one ran)
    # after fit the module holds the EMA weights (WeightAveraging.on_train_end): finite as well
    assert all(torch.isfinite(t).all() for t in [*model.net.parameters(), *model.net.buffers()])

    # the counter survives a checkpoint round trip
    path = tmp_path / "skipped.ckpt"
    trainer.save_checkpoint(path)
    restored = YOLODetector.load_from_checkpoint(path, weights_only=True)
    assert restored.skipped_steps == 1
