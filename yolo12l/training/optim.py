"""YOLO optimiser recipe: three parameter groups, SGD/AdamW/"auto", warmup then linear or cosine decay."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Three groups: [0] weights with decay, [1] normalisation weights (no decay), [2] biases (no decay).

    The group index is stored as ``group["kind"]`` ("weight", "norm", "bias") for the scheduler's warmup.
    """
    norm_types = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))
    decay, norm, bias, seen = [], [], [], set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if name == "bias":
                bias.append(p)
            elif isinstance(module, norm_types) or "Norm" in type(module).__name__ or p.ndim <= 1:
                norm.append(p)  # norm weights, layer scales, temperatures, 1-D gates: no decay
            else:
                decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "kind": "weight"},
        {"params": norm, "weight_decay": 0.0, "kind": "norm"},
        {"params": bias, "weight_decay": 0.0, "kind": "bias"},
    ]


def resolve_optimizer(name: str, lr: float, momentum: float, nc: int, iterations: int) -> tuple[str, float, float]:
    """The YOLO "auto" rule: AdamW with lr 0.002·5/(4+nc) for short runs (≤ 10k iterations), SGD lr 0.01 otherwise."""
    if name.lower() != "auto":
        return name, lr, momentum
    if iterations > 10_000:
        return "SGD", 0.01, 0.9
    return "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9


def build_optimizer(model: nn.Module, name: str = "SGD", lr: float = 0.01, momentum: float = 0.937,
                    weight_decay: float = 5e-4) -> torch.optim.Optimizer:
    """SGD (nesterov) or AdamW/Adam over :func:`param_groups`."""
    groups = param_groups(model, weight_decay)
    key = name.lower()
    if key == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    if key == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    if key == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(momentum, 0.999))
    raise ValueError(f"unknown optimizer {name!r} (SGD, AdamW, Adam or auto)")


def lr_factor(epoch: float, epochs: int, lrf: float, schedule: str = "linear") -> float:
    """LR multiplier at a (fractional) epoch, from 1 down to ``lrf`` at the last epoch."""
    x = min(max(epoch / max(epochs, 1), 0.0), 1.0)
    if schedule == "cosine":
        return ((1 - math.cos(x * math.pi)) / 2) * (lrf - 1) + 1
    if schedule == "linear":
        return (1 - x) * (1.0 - lrf) + lrf
    raise ValueError(f"unknown lr schedule {schedule!r} (linear or cosine)")


class YOLOScheduler(torch.optim.lr_scheduler.LRScheduler):
    """Per-iteration schedule: warmup for ``warmup_iters`` (bias LR from ``warmup_bias_lr`` down, other groups
    from 0 up, momentum from ``warmup_momentum`` up), then per-epoch linear/cosine decay to ``lr·lrf``.

    Step it once per optimizer step. ``self.last_epoch`` counts optimizer steps (saved in checkpoints).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, lrf: float = 0.01,
                 schedule: str = "linear", warmup_epochs: float = 3.0, warmup_min_iters: int = 100,
                 warmup_bias_lr: float = 0.1, warmup_momentum: float = 0.8, last_epoch: int = -1):
        self.epochs = epochs
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.lrf = lrf
        self.schedule = schedule
        self.warmup_iters = max(round(warmup_epochs * self.steps_per_epoch), warmup_min_iters) if warmup_epochs > 0 \
            else 0
        self.warmup_bias_lr = warmup_bias_lr
        self.warmup_momentum = warmup_momentum
        self.final_momentum = [self._momentum(g) for g in optimizer.param_groups]
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _momentum(group: dict) -> float:
        return group["betas"][0] if "betas" in group else group.get("momentum", 0.0)

    def _set_momentum(self, group: dict, value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        it = self.last_epoch
        epoch = it // self.steps_per_epoch
        lrs = []
        for i, (group, base) in enumerate(zip(self.optimizer.param_groups, self.base_lrs)):
            target = base * lr_factor(epoch, self.epochs, self.lrf, self.schedule)
            if it < self.warmup_iters:
                start = self.warmup_bias_lr if group.get("kind") == "bias" else 0.0
                lrs.append(float(np.interp(it, [0, self.warmup_iters], [start, target])))
                self._set_momentum(group, float(np.interp(it, [0, self.warmup_iters],
                                                          [self.warmup_momentum, self.final_momentum[i]])))
            else:
                lrs.append(target)
                self._set_momentum(group, self.final_momentum[i])
        return lrs


def nominal_accumulation(batch_size: int, nominal_batch_size: int = 64) -> int:
    """Optimizer steps accumulate gradients to a nominal batch: max(round(nbs / batch), 1)."""
    return max(round(nominal_batch_size / max(batch_size, 1)), 1)


def scaled_weight_decay(weight_decay: float, batch_size: int, accumulate: int, nominal_batch_size: int = 64) -> float:
    """Weight decay scaled by batch·accumulate/nbs."""
    return weight_decay * batch_size * accumulate / nominal_batch_size


def trainable(params: Iterable[torch.nn.Parameter]) -> int:
    return sum(p.numel() for p in params if p.requires_grad)
