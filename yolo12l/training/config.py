"""YOLODetector's grouped arguments: ``optim`` (:class:`OptimConfig`), ``loss`` (:class:`LossConfig`) and
``evaluation`` (:class:`EvalConfig`), and :data:`MOVED`, the table of the flat keys they replace.

On the command line ``--model.optim.lr0 0.02``, in a config file ``model: {optim: {lr0: 0.02}}``. An old flat key
(``--model.lr0``, ``model: {lr0: …}``) is one line naming the new one (:func:`check_moved_keys`); a checkpoint
written before the grouping (flat ``hyper_parameters``) is read silently (:func:`group_flat_keys`; by
``YOLODetector.load_from_checkpoint`` through :func:`checkpoint_groups`).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..config_checks import check_model_args
from ..errors import ConfigError


@dataclass(frozen=True)
class _Checked:
    """Checks the fields with :data:`~yolo12l.config_checks.MODEL_RULES` (``<group>.<field>``) on construction."""

    def __post_init__(self) -> None:
        check_model_args({GROUP_OF[type(self)]: dataclasses.asdict(self)}, prefix="")


@dataclass(frozen=True)
class OptimConfig(_Checked):
    """The training recipe: Ultralytics 8.4.190's, step by step (:class:`~yolo12l.training.optim.StepSchedule`).

    The module steps the optimizer itself (manual optimization): leave ``trainer.accumulate_grad_batches`` and
    ``trainer.gradient_clip_val`` unset.

    Args:
        optimizer: SGD, AdamW, Adam or auto (AdamW lr 0.002·5/(4+nc), beta1 0.9, warmup_bias_lr 0 for ≤ 10k
            iterations; SGD lr 0.01 momentum 0.9 beyond, where Ultralytics 8.4 uses its MuSGD).
        lr0: initial learning rate (ignored by optimizer auto).
        lrf: final learning rate as a fraction of lr0 (the per-epoch decay goes from lr0 to lr0·lrf).
        momentum: SGD momentum / Adam beta1 (ignored by optimizer auto).
        weight_decay: weight decay of the weight group only, scaled by batch·accumulate/nominal_batch_size.
        schedule: per-epoch learning-rate decay, linear or cosine.
        warmup_epochs: warmup over round(min(warmup_epochs, epochs − 1) · batches per epoch) batches.
        warmup_min_iters: an opt-in minimum number of warmup batches (0, the reference: none; earlier yolo12l
            versions used 100).
        warmup_bias_lr: the bias learning rate at the start of warmup (the other groups start at 0).
        warmup_momentum: SGD momentum at the start of warmup (Adam's beta1 is not warmed up).
        nominal_batch_size: after warmup, gradients accumulate over round(nominal_batch_size / global batch)
            batches; during warmup the accumulation ramps up from 1.
        grad_clip_norm: gradient norm clipped to this before every optimizer step (0: no clipping).
        fused_optimizer: torch's fused optimizer kernels, which skip a non-finite step on the device; null: on GPUs
            (CUDA, MPS, XPU), not on the CPU, where the foreach kernels and one host read per step cost nothing and
            reproduce earlier runs bit for bit.
    """

    optimizer: str = "auto"
    lr0: float = 0.01
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 5e-4
    schedule: str = "linear"
    warmup_epochs: float = 3.0
    warmup_min_iters: int = 0
    warmup_bias_lr: float = 0.1
    warmup_momentum: float = 0.8
    nominal_batch_size: int = 64
    grad_clip_norm: float = 10.0
    fused_optimizer: bool | None = None


@dataclass(frozen=True)
class LossConfig(_Checked):
    """Weights of the three loss terms (:class:`~yolo12l.losses.DetectionLoss`).

    Args:
        box: weight of the CIoU box loss.
        cls: weight of the BCE classification loss.
        dfl: weight of the distribution focal loss.
    """

    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


@dataclass(frozen=True)
class EvalConfig(_Checked):
    """Evaluation and prediction settings: taken from the command that runs, never from ``--ckpt_path``.

    Args:
        conf_thres: confidence threshold of the evaluation's detections (mAP counts low-score boxes too).
        iou_thres: class-aware NMS IoU threshold.
        max_det: at most this many detections per image.
        map_backend: COCO mAP by pycocotools or faster_coco_eval (the same numbers, faster).
        predict_conf: confidence threshold of predict (and of the predictions drawn in the evaluation plots).
        save_plots: evaluation plots (PR, confusion matrix, P/R/F1-confidence) and training plots (labels, first
            batches, results.png) in <log_dir>/plots and TensorBoard; during fit the evaluation plots and
            results.png are drawn at the last epoch (or when the run stops early), not after every epoch.
        save_json: write predictions.json (COCO results of every detection kept after NMS, the dataset's image and
            category ids, xywh in original pixels) in the run folder on validate / test and at the last epoch.
    """

    conf_thres: float = 0.001
    iou_thres: float = 0.7
    max_det: int = 300
    map_backend: str = "pycocotools"
    predict_conf: float = 0.25
    save_plots: bool = True
    save_json: bool = True


GROUPS: dict[str, type] = {"optim": OptimConfig, "loss": LossConfig, "evaluation": EvalConfig}
GROUP_OF: dict[type, str] = {cls: name for name, cls in GROUPS.items()}
# the flat keys of yolo12l before the grouping -> their group
MOVED: dict[str, str] = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}

C = TypeVar("C")


def as_config(cls: type[C], value: C | Mapping[str, Any] | None) -> C:
    """``value`` as a ``cls`` instance: None gives the defaults, a mapping (a checkpoint's plain dict) its fields."""
    if value is None:
        return cls()
    if isinstance(value, Mapping):
        return cls(**value)
    if not isinstance(value, cls):
        raise ConfigError(f"{GROUP_OF[cls]} {value!r}: must be a {cls.__name__} or a mapping of its fields")
    return value


def plain_groups(configs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The group configs as plain dicts (what checkpoints' ``hyper_parameters`` hold: ``weights_only`` loads)."""
    return {name: dataclasses.asdict(cfg) for name, cfg in configs.items()}


def group_flat_keys(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` with the flat keys of older checkpoints (``lr0``, ``conf_thres`` …) moved into their groups
    (``optim: {lr0: …}``); grouped hparams come back unchanged."""
    out: dict[str, Any] = {}
    for key, value in hparams.items():
        if key in MOVED:
            out.setdefault(MOVED[key], {})[key] = value
        else:
            out[key] = value
    for name in GROUPS:  # a group written next to flat keys of the same group: the group's values win
        if name in hparams and isinstance(hparams[name], Mapping):
            out[name] = {**out.get(name, {}), **hparams[name]}
    return out


def checkpoint_groups(checkpoint_path: Any) -> dict[str, Any]:
    """The groups (``optim``, ``loss``, ``evaluation``) of an older checkpoint's flat hyper-parameters, as arguments
    for ``load_from_checkpoint`` (which would drop the flat keys, and with them the run's recipe); empty for a
    grouped checkpoint or what is not a local file."""
    if not isinstance(checkpoint_path, (str, os.PathLike)) or not Path(checkpoint_path).is_file():
        return {}
    import torch

    ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True, mmap=True)
    hparams = ckpt.get("hyper_parameters") or {} if isinstance(ckpt, Mapping) else {}
    if not set(hparams) & set(MOVED):
        return {}
    grouped = group_flat_keys(hparams)
    return {name: grouped[name] for name in GROUPS if name in grouped}


def moved_error(key: str, prefix: str = "--model.", where: str = "") -> ConfigError:
    """The one-line error for an old flat key: ``--model.lr0 moved: use --model.optim.lr0``."""
    return ConfigError(f"{prefix}{key} moved: use {prefix}{MOVED[key]}.{key}{where}")


def _config_files(argv: Sequence[str]) -> list[tuple[str, bool]]:
    """(path, whether the file is the model section itself: ``--model model.yaml``) of each config file given."""
    files = []
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--config", "-c", "--model"):
            path = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if path:
                files.append((path, name == "--model"))
    return files


def check_moved_keys(argv: Sequence[str]) -> None:
    """Raises the :func:`moved_error` of the first old flat model key in a LightningCLI command line: an argument
    ``--model.lr0`` (or ``--model.init_args.lr0``), the ``model`` section of a ``--config`` file or a ``--model``
    file. Files that cannot be read (or a ``--model`` value that is no file) are left to the parser."""
    for arg in argv:
        for prefix in ("--model.", "--model.init_args."):
            key = arg.split("=", 1)[0][len(prefix):] if arg.startswith(prefix) else ""
            if key in MOVED:
                raise moved_error(key, prefix)
    for name, is_model in _config_files(argv):
        try:
            data = yaml.safe_load(Path(name).read_text())
        except (OSError, yaml.YAMLError):
            continue
        model = data if is_model else data.get("model") if isinstance(data, dict) else None
        if isinstance(model, Mapping) and isinstance(model.get("init_args"), Mapping):
            model = model["init_args"]
        for key in model if isinstance(model, Mapping) else ():
            if key in MOVED:
                raise moved_error(key, "--model.", f" (in {name})")


__all__ = ["EvalConfig", "LossConfig", "OptimConfig", "GROUPS", "MOVED", "as_config", "check_moved_keys",
           "group_flat_keys", "moved_error", "plain_groups"]
