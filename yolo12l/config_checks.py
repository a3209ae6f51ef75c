"""Range checks of every model, data and trainer setting: one rule per value, all in this file.

The LightningCLI runs :func:`check_run_config` on the parsed configuration before it builds the model, the
DataModule or the Trainer (so nonsense such as ``--model.optim.lr0 -0.01`` or ``--data.init_args.mosaic 2`` is one line,
``yolo12l fit: error: …``, exit 2, before any data is read); :class:`~yolo12l.training.YOLODetector` and the
DataModules run :func:`check_model_args` / :func:`check_data_args` on their own arguments with the same rules, for
Python users. Ranges follow Ultralytics' (its fraction keys — lr0, momentum, hsv gains, flips, mosaic, conf, iou … —
lie in [0, 1]).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError

Rule = tuple[Callable[[Any], bool], str]  # (value is usable, what a usable value is)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _in(lo: float, hi: float, lo_open: bool = False) -> Rule:
    return ((lambda x: _number(x) and (lo < x if lo_open else lo <= x) and x <= hi),
            f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]")


def _at_least(lo: float, integer: bool = False) -> Rule:
    return ((lambda x: _number(x) and x >= lo and (not integer or float(x).is_integer())),
            f"{'an integer' if integer else 'a number'} >= {lo:g}")


def _one_of(*names: str, case: bool = True) -> Rule:
    allowed = set(names) if case else {n.lower() for n in names}
    return ((lambda x: isinstance(x, str) and (x if case else x.lower()) in allowed), f"one of {', '.join(names)}")


def _optional(rule: Rule) -> Rule:
    ok, text = rule
    return (lambda x: x is None or ok(x)), f"null or {text}"


def _albumentations_ok(x: Any) -> bool:
    """Builds the transforms (raises the ConfigError that names a bad one: unknown, malformed or spatial)."""
    from .data.photometric import build_photometric

    build_photometric(x, where="")
    return True


def _freeze_ok(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, int) and not isinstance(x, bool):
        return x >= 0
    return isinstance(x, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in x)


FRACTION = _in(0, 1)
OPTIMIZERS = ("SGD", "AdamW", "Adam", "auto")
SCHEDULES = ("linear", "cosine")
MAP_BACKENDS = ("pycocotools", "faster_coco_eval")

# YOLODetector's arguments (yolo12l.training.module; the groups: yolo12l.training.config), by dotted key
MODEL_RULES: dict[str, Rule] = {
    "optim.optimizer": _one_of(*OPTIMIZERS, case=False),
    "optim.lr0": _in(0, 1, lo_open=True),
    "optim.lrf": _in(0, 1, lo_open=True),
    "optim.momentum": _in(0, 1, lo_open=False),
    "optim.weight_decay": _in(0, 1),
    "optim.schedule": _one_of(*SCHEDULES),
    "optim.warmup_epochs": _at_least(0),
    "optim.warmup_min_iters": _at_least(0, integer=True),
    "optim.warmup_bias_lr": _in(0, 1),
    "optim.warmup_momentum": FRACTION,
    "optim.nominal_batch_size": _at_least(1, integer=True),
    "optim.grad_clip_norm": _at_least(0),
    "optim.fused_optimizer": ((lambda x: x is None or isinstance(x, bool)), "null, true or false"),
    "loss.box": _at_least(0),
    "loss.cls": _at_least(0),
    "loss.dfl": _at_least(0),
    "evaluation.conf_thres": FRACTION,
    "evaluation.iou_thres": FRACTION,
    "evaluation.max_det": _at_least(1, integer=True),
    "evaluation.map_backend": _one_of(*MAP_BACKENDS),
    "evaluation.predict_conf": FRACTION,
    "evaluation.save_plots": ((lambda x: isinstance(x, bool)), "true or false"),
    "evaluation.save_json": ((lambda x: isinstance(x, bool)), "true or false"),
    "summary_imgsz": ((lambda x: isinstance(x, int) and (x == 0 or (x >= 32 and x % 32 == 0))),
                      "0 or a positive multiple of 32"),
    "num_classes": _at_least(1, integer=True),
    "freeze": (_freeze_ok, "null, a number of first layers >= 0, or a list of layer indices >= 0"),
}

# Sliced inference (yolo12l.inference.slicing.SliceConfig: predict / validate / test ``--slice`` …)
SLICE_RULES: dict[str, Rule] = {
    "slice_size": ((lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 32),
                   "an integer >= 32 (pixels of the original image)"),
    "overlap": ((lambda x: _number(x) and 0 <= x < 1), "a number in [0, 1) (a fraction of the slice size)"),
    "merge": _one_of("nmm", "nms"),
    "match_metric": _one_of("ios", "iou"),
    "match_thres": FRACTION,
    "full_image": ((lambda x: isinstance(x, bool)), "true or false"),
}

# DetectionDataModule's (and its subclasses') arguments (yolo12l.data.datamodule)
DATA_RULES: dict[str, Rule] = {
    "imgsz": ((lambda x: isinstance(x, int) and x >= 32 and x % 32 == 0), "a positive multiple of 32"),
    "batch_size": _at_least(1, integer=True),
    "val_batch_size": _optional(_at_least(1, integer=True)),
    "num_workers": _at_least(0, integer=True),
    "worker_threads": _optional(_at_least(1, integer=True)),
    "mosaic": FRACTION,
    "mixup": FRACTION,
    "close_mosaic": _at_least(0, integer=True),
    "degrees": _in(-180, 180),
    "translate": FRACTION,
    "scale": FRACTION,
    "shear": _in(-180, 180),
    "hsv_h": FRACTION,
    "hsv_s": FRACTION,
    "hsv_v": FRACTION,
    "fliplr": FRACTION,
    "min_box_size": _at_least(0),
    "min_visibility": FRACTION,
    "tiles": ((lambda x: isinstance(x, bool)), "true or false"),
    "tile_empty": FRACTION,
    "albumentations": (_albumentations_ok, "a list of photometric albumentations transforms"),
    "cache_images": ((lambda x: x in (None, "ram", "disk")), "null, ram or disk"),
    "image_buffer_mb": _at_least(0),
    "verify": _one_of("header", "full", "none"),
    "num_train": _at_least(1, integer=True),
    "num_val": _at_least(1, integer=True),
    "max_objects": _at_least(1, integer=True),
    "max_pixels": _optional(_at_least(1, integer=True)),
}


def _check(values: Mapping[str, Any], rules: Mapping[str, Rule], prefix: str) -> None:
    for key, (ok, text) in rules.items():
        if key not in values:
            continue
        try:
            usable = ok(values[key])
        except ConfigError as err:  # a rule that says what is wrong itself (albumentations)
            raise ConfigError(f"{prefix}{key}{err}") from None
        if not usable:
            raise ConfigError(f"{prefix}{key} {values[key]!r}: must be {text}")


def _dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optim": {"lr0": 0.01}, "freeze": 3}`` -> ``{"optim.lr0": 0.01, "freeze": 3}`` (one level of groups)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Mapping) or hasattr(value, "as_dict"):
            out.update({f"{key}.{k}": v for k, v in _as_dict(value).items()})
        else:
            out[key] = value
    return out


def check_model_args(values: Mapping[str, Any], prefix: str = "model.") -> None:
    """Raises :class:`~yolo12l.errors.ConfigError` naming the first model argument out of its range (``values``:
    top-level arguments and the groups as mappings, e.g. ``{"optim": {"lr0": 0.01}}``)."""
    _check(_dotted(values), MODEL_RULES, prefix)


def check_data_args(values: Mapping[str, Any], prefix: str = "data.") -> None:
    """Raises :class:`~yolo12l.errors.ConfigError` naming the first data argument out of its range."""
    _check(values, DATA_RULES, prefix)


def check_slice_args(values: Mapping[str, Any], prefix: str = "slicing.",
                     names: Mapping[str, str] | None = None) -> None:
    """Raises :class:`~yolo12l.errors.ConfigError` naming the first sliced-inference option out of its range
    (``names``: how to call a key in the message, e.g. ``{"overlap": "invalid --overlap"}``)."""
    names = names or {}
    for key, (ok, text) in SLICE_RULES.items():
        if key in values and not ok(values[key]):
            raise ConfigError(f"{names.get(key, prefix + key)} {values[key]!r}: must be {text}")


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch.backends, "mps") and torch.backends.mps.is_available())


def check_trainer_args(values: Mapping[str, Any], prefix: str = "trainer.") -> None:
    """The Trainer settings the recipe cannot use (it steps the optimizer itself), impossible epochs, and GPU
    accelerators on a machine without one (``configs/ddp.yaml`` on a CPU box)."""
    epochs = values.get("max_epochs")
    if epochs is not None and not (isinstance(epochs, int) and epochs >= 1):
        raise ConfigError(f"{prefix}max_epochs {epochs!r}: must be an integer >= 1 (the LR schedule decays over a "
                          "finite number of epochs)")
    accumulate = values.get("accumulate_grad_batches")
    if accumulate not in (None, 1):
        raise ConfigError(f"{prefix}accumulate_grad_batches {accumulate!r}: the module accumulates gradients itself "
                          "(the recipe's warmup ramp); set --model.optim.nominal_batch_size instead (gradients "
                          "accumulate to that many images per optimizer step, e.g. 64 = 4 x batch 16)")
    if values.get("gradient_clip_val") not in (None, 0, 0.0):
        raise ConfigError(f"{prefix}gradient_clip_val {values['gradient_clip_val']!r}: the module clips gradients "
                          "itself; set --model.optim.grad_clip_norm instead (0 = no clipping)")
    accelerator = values.get("accelerator")
    if isinstance(accelerator, str) and accelerator.lower() in ("gpu", "cuda", "mps") and not _has_gpu():
        raise ConfigError(f"{prefix}accelerator {accelerator!r}: this machine has no GPU (torch.cuda.is_available() "
                          "is False); configs/ddp.yaml and multinode.yaml are for GPU machines, use "
                          "--trainer.accelerator cpu (or auto)")


def _as_dict(ns: Any) -> dict[str, Any]:
    if ns is None:
        return {}
    if hasattr(ns, "as_dict"):
        return ns.as_dict()
    return dict(ns)


def check_run_config(config: Any) -> None:
    """Checks a parsed LightningCLI configuration (``model``, ``data`` with ``init_args``, ``trainer``)."""
    model, data, trainer = (_as_dict(config.get(k)) for k in ("model", "data", "trainer"))
    check_trainer_args(trainer, "--trainer.")
    check_model_args(model, "--model.")
    if model.get("slicing") is not None:
        check_slice_args(_as_dict(model["slicing"]), "--model.slicing.")
    check_data_args(data.get("init_args", data), "--data.init_args." if "init_args" in data else "--data.")


__all__ = ["MODEL_RULES", "DATA_RULES", "SLICE_RULES", "check_model_args", "check_data_args", "check_slice_args",
           "check_trainer_args", "check_run_config"]
