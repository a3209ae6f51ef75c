"""The YOLO training recipe of Ultralytics 8.4: three parameter groups, SGD/AdamW/"auto", and the per-batch schedule
(warmup counted in batches with a gradient-accumulation ramp, then per-epoch linear or cosine LR decay).

Everything here is a pure function of the run's shape (epochs, batches per epoch, batch sizes) and of the global
batch index ``ni = epoch · batches_per_epoch + batch_idx``, so a resumed run recomputes the same values.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields, replace
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError
from .config import OptimConfig

log = logging.getLogger("yolo12l.training.module")  # the recipe's lines keep the name they always had

GROUP_KINDS = ("weight", "norm", "bias")  # Ultralytics calls them "weight", "bn", "bias"
NORM_TYPES = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))


def param_groups(model: nn.Module, weight_decay: float, skip: Iterable[nn.Parameter] = ()) -> list[dict]:
    """Three groups, by the reference's rules: [0] ``weight`` (decayed): every parameter that is neither of the
    others, 1-D ones such as layer-scale ``gamma`` included; [1] ``norm``: parameters of ``torch.nn`` normalisation
    layers (and ``logit_scale``), no decay; [2] ``bias``: parameters whose qualified name contains ``bias``, no decay.

    Frozen parameters (the DFL projection) are listed too, as the reference does; without gradients the optimizer
    leaves them alone. The kind is stored as ``group["kind"]``. ``skip``: parameters left out of every group
    (those a callback such as BackboneFinetuning froze, so that it can add them as its own group later).
    """
    groups: dict[str, list[nn.Parameter]] = {k: [] for k in GROUP_KINDS}
    seen: set[int] = {id(p) for p in skip}
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{module_name}.{name}" if module_name else name
            if "bias" in full:
                groups["bias"].append(p)
            elif isinstance(module, NORM_TYPES) or "logit_scale" in full:
                groups["norm"].append(p)
            else:
                groups["weight"].append(p)
    return [{"params": groups[k], "weight_decay": weight_decay if k == "weight" else 0.0, "kind": k}
            for k in GROUP_KINDS]


def auto_iterations(num_images: int, batch_size: int, epochs: int, nominal_batch_size: int = 64) -> int:
    """The iteration count the ``auto`` rule looks at: ceil(images / max(batch, nbs)) · epochs."""
    return math.ceil(num_images / max(batch_size, nominal_batch_size)) * epochs


def resolve_optimizer(name: str, lr: float, momentum: float, nc: int, iterations: int) -> tuple[str, float, float]:
    """The ``auto`` rule: AdamW, lr 0.002·5/(4+nc) rounded to 6 decimals, beta1 0.9 for ≤ 10k iterations; beyond,
    SGD lr 0.01 momentum 0.9 (Ultralytics 8.4 picks its MuSGD there; the YOLO12 paper trained with SGD)."""
    if name.lower() != "auto":
        return name, lr, momentum
    if iterations > 10_000:
        return "SGD", 0.01, 0.9
    return "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9


def build_optimizer(model: nn.Module, name: str = "SGD", lr: float = 0.01, momentum: float = 0.937,
                    weight_decay: float = 5e-4, fused: bool | None = None,
                    skip: Iterable[nn.Parameter] = ()) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW/Adam (betas (momentum, 0.999)) over :func:`param_groups`.

    ``fused``: torch's fused kernels (one pass over each parameter; they take ``optimizer.found_inf``, a device
    flag that skips the whole step on the device, which :class:`~yolo12l.training.nonfinite.NonFiniteGuard` uses);
    ``None``: fused on accelerators that have the kernels (CUDA, MPS, XPU), where a host read per step would stall
    the device; on the CPU the foreach kernels (a host read costs nothing there, and the foreach rounding is the
    reference's: a CPU run reproduces earlier runs bit for bit).
    A fused SGD gets zero momentum buffers up front, so that a skipped first step leaves no uninitialised buffer
    (``0.9·0 + g`` equals the first step's ``g``).
    """
    groups = param_groups(model, weight_decay, skip)
    key = name.lower()
    if key == "sgd":
        cls, kwargs = torch.optim.SGD, {"momentum": momentum, "nesterov": True}
    elif key in ("adamw", "adam"):
        cls = torch.optim.AdamW if key == "adamw" else torch.optim.Adam
        kwargs = {"betas": (momentum, 0.999), "weight_decay": 0.0}
    else:
        raise ConfigError(f"unknown optimizer {name!r} (SGD, AdamW, Adam or auto)")
    if fused is None:
        fused = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for g in groups for p in g["params"])
    opt = cls(groups, lr=lr, fused=fused, **kwargs) if fused else cls(groups, lr=lr, **kwargs)
    if fused and cls is torch.optim.SGD and momentum:
        for group in opt.param_groups:
            for p in group["params"]:
                opt.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return opt


FUSED_DEVICES = ("cuda", "mps", "xpu")  # fused=True also works on the CPU; None picks it on these only
def lr_factor(epoch: float, epochs: int, lrf: float, schedule: str = "linear") -> float:
    """LR multiplier of an epoch: 1 at epoch 0, down to ``lrf`` at ``epochs`` (linear, or half a cosine)."""
    epochs = max(epochs, 1)
    if schedule == "linear":
        return max(1 - epoch / epochs, 0) * (1.0 - lrf) + lrf
    if schedule == "cosine":
        return max((1 - math.cos(epoch * math.pi / epochs)) / 2, 0) * (lrf - 1.0) + 1.0
    raise ConfigError(f"unknown lr schedule {schedule!r} (linear or cosine)")


def nominal_accumulation(batch_size: int, nominal_batch_size: int = 64) -> int:
    """Batches whose gradients make one optimizer step after warmup: max(round(nbs / batch), 1)."""
    return max(round(nominal_batch_size / max(batch_size, 1)), 1)


def scaled_weight_decay(weight_decay: float, batch_size: int, accumulate: int, nominal_batch_size: int = 64) -> float:
    """Weight decay scaled by batch·accumulate/nbs."""
    return weight_decay * batch_size * accumulate / nominal_batch_size


@dataclass(frozen=True)
class StepSchedule:
    """The per-batch recipe as functions of the global batch index ``ni`` (``ni = epoch·batches_per_epoch + i``).

    * warmup: the first ``warmup_iters = round(min(warmup_epochs, epochs − 1) · batches_per_epoch)`` batches
      (``ni ≤ warmup_iters``). The accumulation ramps from 1 to :attr:`accumulate_target`; the bias LR goes from
      ``warmup_bias_lr``, the other LRs from 0, to the epoch's decayed LR; SGD momentum goes from
      ``warmup_momentum`` to ``momentum`` (Adam's beta1 is not warmed up).
    * after it: per-epoch LR ``lr0 · lr_factor(epoch)``, accumulation :attr:`accumulate_target`.
    * an optimizer step follows batch ``ni`` when ``ni − last_step ≥ accumulate(ni)`` (``last_step`` = the batch of
      the previous step, −1 at the start): gradients carry over epoch ends.

    ``batch_size`` is the global batch (all ranks); ``batches_per_epoch`` is per rank; the recipe's values are
    ``recipe``'s (``lr0`` / ``weight_decay`` / ``optimizer`` are the optimizer's, see :func:`build_recipe`).
    ``warmup_min_iters`` (an opt-in, not the reference's rule) lengthens a shorter warmup to that many batches.
    """

    epochs: int
    batches_per_epoch: int
    batch_size: int
    recipe: OptimConfig = OptimConfig()

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batches_per_epoch < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs, batches_per_epoch and batch_size must be ≥ 1: {self}")

    @property
    def nominal_accumulate(self) -> int:
        return nominal_accumulation(self.batch_size, self.recipe.nominal_batch_size)

    @property
    def accumulate_target(self) -> int:
        """Accumulation after warmup: the nominal one, capped by the number of batches of the run."""
        return min(self.nominal_accumulate, self.batches_per_epoch * self.epochs)

    @property
    def warmup_iters(self) -> int:
        warmup = min(self.recipe.warmup_epochs, max(self.epochs - 1, 0))  # leaves at least the last epoch
        return max(round(warmup * self.batches_per_epoch), self.recipe.warmup_min_iters) if warmup > 0 else 0

    def weight_decay(self, weight_decay: float) -> float:
        """Decay of the ``weight`` group: scaled by batch · nominal accumulation / nbs."""
        return scaled_weight_decay(weight_decay, self.batch_size, self.nominal_accumulate,
                                   self.recipe.nominal_batch_size)

    def in_warmup(self, ni: int) -> bool:
        return 0 < self.warmup_iters and ni <= self.warmup_iters

    def _ramp(self, ni: int, start: float, end: float) -> float:
        return float(np.interp(ni, [0, self.warmup_iters], [start, end]))

    def accumulate(self, ni: int) -> int:
        if self.in_warmup(ni):
            return max(1, int(round(self._ramp(ni, 1, self.accumulate_target))))
        return self.accumulate_target

    def should_step(self, ni: int, last_step: int) -> bool:
        return ni - last_step >= self.accumulate(ni)

    def lr(self, base_lr: float, kind: str, ni: int, epoch: int) -> float:
        target = base_lr * lr_factor(epoch, self.epochs, self.recipe.lrf, self.recipe.schedule)
        if self.in_warmup(ni):
            return self._ramp(ni, self.recipe.warmup_bias_lr if kind == "bias" else 0.0, target)
        return target

    def apply(self, optimizer: torch.optim.Optimizer, ni: int, epoch: int) -> None:
        """Sets every group's ``lr`` (from its ``initial_lr``) and, during warmup, SGD's ``momentum`` for batch ni.
        Groups without a ``kind`` (added after :func:`build_optimizer` by a callback) are left to whoever added them."""
        for group in optimizer.param_groups:
            if "kind" not in group:  # added by a callback (e.g. BackboneFinetuning), which sets its LR itself
                continue
            base = group.setdefault("initial_lr", group["lr"])
            group["lr"] = self.lr(base, group.get("kind", "weight"), ni, epoch)
            if "momentum" in group and self.in_warmup(ni):
                group["momentum"] = self._ramp(ni, self.recipe.warmup_momentum, self.recipe.momentum)

    def step_batches(self) -> list[int]:
        """Global batch indices after which the optimizer steps, over the whole run."""
        steps, last = [], -1
        for ni in range(self.epochs * self.batches_per_epoch):
            if self.should_step(ni, last):
                steps.append(ni)
                last = ni
        return steps


def trainable(params: Iterable[torch.nn.Parameter]) -> int:
    return sum(p.numel() for p in params if p.requires_grad)


def report_auto_optimizer(cfg: OptimConfig, name: str, lr: float, momentum: float, iterations: int) -> None:
    """``optimizer: auto`` picks its own lr and momentum: warns once that ``lr0`` / ``momentum`` are ignored when
    they differ from the defaults (Ultralytics says "ignoring 'lr0=…'")."""
    defaults = {f.name: f.default for f in fields(OptimConfig)}
    ignored = [f"{k}={getattr(cfg, k):g}" for k in ("lr0", "momentum") if getattr(cfg, k) != defaults[k]]
    if ignored:
        log.warning("optimizer 'auto' ignores %s: it picks %s lr %g momentum %g for %d iterations; set "
                    "--model.optim.optimizer SGD or AdamW to use them", " and ".join(ignored), name, lr, momentum,
                    iterations)


def build_recipe(net: nn.Module, cfg: OptimConfig, num_classes: int, epochs: int, batches_per_epoch: int,
                 batch_size: int, num_images: int,
                 skip: Iterable[nn.Parameter] = ()) -> tuple[torch.optim.Optimizer, StepSchedule]:
    """The optimizer over :func:`param_groups` (``skip``: parameters left out) and the :class:`StepSchedule` of a
    run of ``epochs`` x ``batches_per_epoch`` (per rank) batches of ``batch_size`` images (all ranks), with the
    ``auto`` rule resolved for ``num_images`` training images; logs the choice."""
    auto = cfg.optimizer.lower() == "auto"
    iterations = auto_iterations(num_images, batch_size, epochs, cfg.nominal_batch_size)
    name, lr, momentum = resolve_optimizer(cfg.optimizer, cfg.lr0, cfg.momentum, num_classes, iterations)
    if auto:
        report_auto_optimizer(cfg, name, lr, momentum, iterations)
    # as the reference's auto: no bias warmup
    schedule = StepSchedule(epochs, batches_per_epoch, batch_size, replace(cfg, warmup_bias_lr=0.0) if auto else cfg)
    wd = schedule.weight_decay(cfg.weight_decay)
    opt = build_optimizer(net, name, lr, momentum, wd, fused=cfg.fused_optimizer, skip=skip)
    log.info("optimizer %s%s lr=%g momentum=%g weight_decay=%g; accumulate %d after a warmup of %d batches "
             "(%d batches per epoch)", name, " (auto)" if auto else "", lr, momentum, wd,
             schedule.accumulate_target, schedule.warmup_iters, batches_per_epoch)
    return opt, schedule
