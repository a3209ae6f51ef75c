"""The one reader of weight files: :func:`load_network` (architecture + weights) and :func:`read_network_state`
(weights only, for fine-tuning), for every kind of file yolo12l reads.

Kinds (``info["format"]``):

``lightning``
    a yolo12l ``.ckpt``: architecture from ``hyper_parameters`` (``model``, ``scale``, ``num_classes``,
    ``class_names``, ``label_to_category_id``: top-level keys before and after the training settings were grouped,
    so checkpoints of both kinds read alike), weights = the ``net.`` entries of ``state_dict``; training size from
    the checkpoint's ``imgsz`` entry. Read with ``torch.load(weights_only=True)``.
``ultralytics``
    an Ultralytics / YOLOv12 paper-repository ``.pt`` (a pickled model, read by the restricted unpickler without
    running pickle code) or a plain state-dict file (``{name: tensor}``, optionally with ``yaml`` / ``scale``); see
    :func:`yolo12l.interop.load.load_ultralytics_checkpoint` for the YOLO12 / v1.0 / turbo layouts. Training size
    from ``train_args["imgsz"]``.

Every refusal is a :class:`~yolo12l.errors.CheckpointError` (a missing file, a foreign or damaged file, weights of
another architecture; :class:`~yolo12l.interop.UnsafeCheckpointError` is one too), whose message names the path.
"""
from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any
from collections.abc import Mapping

import torch

from ..errors import CheckpointError
from ..models import DetectionNetwork, build_model
from .load import fold_pe_bias, load_ultralytics_checkpoint
from .safe_unpickle import UnsafeCheckpointError
from .ultralytics_checkpoint import read_ultralytics_checkpoint

__all__ = ["check_lightning_checkpoint", "check_state_fits", "load_network", "read_network_state"]

_UNREADABLE = (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, UnicodeDecodeError, RuntimeError,
               ValueError, KeyError, AttributeError, TypeError, IndexError)


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path}: is not a file (expected a .ckpt or .pt weights file)")
    return path


def _plain(path: Path) -> Any:
    """The file as plain tensors and containers (``weights_only``), or None when it is not such a file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a pickled model (Ultralytics), or not a torch file at all: the caller decides
        return None


def _is_lightning(obj: Any) -> bool:
    return isinstance(obj, Mapping) and isinstance(obj.get("hyper_parameters"), Mapping) \
        and isinstance(obj.get("state_dict"), Mapping)


def _imgsz(value: Any) -> int | None:
    if isinstance(value, (list, tuple)) and value:
        value = max(value)
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def _from_lightning(path: Path, ckpt: Mapping[str, Any]) -> tuple[DetectionNetwork, dict[str, Any]]:
    hp = dict(ckpt["hyper_parameters"])
    missing = [k for k in ("model", "num_classes") if k not in hp]
    if missing:
        raise CheckpointError(f"{path}: Lightning checkpoint without hyper-parameters {missing}")
    nc = int(hp["num_classes"])
    try:
        net = build_model(hp["model"], scale=hp.get("scale"), nc=nc)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot build its model {hp['model']!r}: {exc}") from exc
    names = hp.get("class_names") or [str(i) for i in range(nc)]
    names = {int(k): str(v) for k, v in names.items()} if isinstance(names, Mapping) else dict(enumerate(names))
    if len(names) != nc:
        raise CheckpointError(f"{path}: {len(names)} class names for {nc} classes")
    net.names = names
    cats = hp.get("label_to_category_id")
    if cats is not None and len(cats) != nc:
        raise CheckpointError(f"{path}: label_to_category_id has {len(cats)} entries for {nc} classes")
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    if not state:
        raise CheckpointError(f"{path}: the checkpoint's state_dict has no 'net.' network weights")
    own = net.state_dict()
    absent = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                if k in state and state[k].shape != v.shape]
    if absent or unexpected or reshaped:
        raise CheckpointError(f"{path}: weights do not match the recorded architecture ({len(absent)} missing, "
                              f"{len(unexpected)} unexpected, {len(reshaped)} of another shape, e.g. "
                              f"{(reshaped or absent or unexpected)[:2]})")
    net.load_state_dict(state)
    info = {"format": "lightning", "path": os.fspath(path), "nc": nc, "names": names, "scale": net.scale,
            "category_ids": list(cats) if cats is not None else None, "imgsz": _imgsz(ckpt.get("imgsz")),
            "epoch": ckpt.get("epoch"), "hyper_parameters": hp}
    return net, info


def _from_ultralytics(path: Path) -> tuple[DetectionNetwork, dict[str, Any]]:
    try:
        net, info = load_ultralytics_checkpoint(path)
    except (CheckpointError, UnsafeCheckpointError) as exc:
        if str(path) in str(exc):
            raise
        raise CheckpointError(f"{path}: {exc}") from exc
    except _UNREADABLE as exc:  # a damaged or foreign file: the readers fail in many ways
        raise CheckpointError(f"{path}: neither a yolo12l .ckpt nor an Ultralytics / YOLOv12 .pt "
                              f"({type(exc).__name__}: {exc})") from exc
    return net, {**info, "format": "ultralytics", "category_ids": None,
                 "imgsz": _imgsz((info.get("train_args") or {}).get("imgsz"))}


def load_network(path: str | os.PathLike) -> tuple[DetectionNetwork, dict[str, Any]]:
    """The network stored in ``path`` (eval mode, float32, class names in ``net.names``) and what the file says.

    ``info``: ``format`` (``lightning`` / ``ultralytics``), ``path``, ``nc``, ``names`` (index → name), ``scale``,
    ``category_ids`` (a yolo12l checkpoint's ``label_to_category_id``, else None), ``imgsz`` (the training size,
    None when not recorded), plus per kind ``hyper_parameters`` / ``epoch`` or ``variant``, ``train_args``, … .

    Raises:
        CheckpointError: the file is missing, unreadable, unsafe or of an architecture yolo12l cannot build.
    """
    path = _existing(path)
    obj = _plain(path)
    if _is_lightning(obj):
        net, info = _from_lightning(path, obj)
    else:
        net, info = _from_ultralytics(path)  # plain state dicts (with or without a model yaml) are handled there
    return net.float().eval(), info


def read_network_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Network weights (yolo12l keys, float32) from any file :func:`load_network` reads, or a plain state dict of any
    yolo12l network (no architecture needed: the caller's network decides what fits). YOLOv12 v1.0 pe-conv biases
    are folded into their BatchNorm (:func:`yolo12l.interop.fold_pe_bias`)."""
    from .convert import convert_ultralytics_state_dict

    path = _existing(path)
    obj = _plain(path)
    if obj is None:  # not plain tensors: a pickled Ultralytics model
        try:
            state = read_ultralytics_checkpoint(path).state_dict
        except (CheckpointError, UnsafeCheckpointError):
            raise
        except _UNREADABLE as exc:
            raise CheckpointError(f"{path}: neither a yolo12l .ckpt nor an Ultralytics / YOLOv12 .pt "
                                  f"({type(exc).__name__}: {exc})") from exc
    elif isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        state = obj["state_dict"]
    elif isinstance(obj, Mapping):
        state = obj
    else:
        raise CheckpointError(f"{path}: expected a checkpoint or a state dict, found {type(obj).__name__}")
    if any(str(k).startswith("net.") for k in state):  # a Lightning checkpoint: only the network's entries
        state = {k: v for k, v in state.items() if k.startswith("net.")}
    state = convert_ultralytics_state_dict({k: v for k, v in state.items() if torch.is_tensor(v)})
    return dict(fold_pe_bias(state)[0])


def check_lightning_checkpoint(path: str | os.PathLike, argument: str = "--ckpt_path") -> None:
    """Refuses (CheckpointError, one line) a ``--ckpt_path`` that is not a yolo12l Lightning checkpoint: an
    Ultralytics / YOLOv12 ``.pt`` or a plain state dict is a starting point for ``--model.weights`` instead.
    "last" / "best" / "hpc" (Lightning's names) pass through."""
    if str(path) in ("last", "best", "hpc", "registry"):
        return
    path = _existing(path)
    if _is_lightning(_plain(path)):
        return
    raise CheckpointError(f"invalid {argument} {path}: not a yolo12l Lightning checkpoint (an Ultralytics / "
                          f"YOLOv12 .pt or a state dict?); use --model.weights {path} to start from its weights")


def check_state_fits(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], what: str) -> None:
    """CheckpointError (one line) when ``state`` (a checkpoint's ``net.`` weights) does not fit the network of
    ``own`` keys and shapes, naming the class count when that is the difference."""
    absent = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and state[k].shape != own[k].shape]
    if not (absent or unexpected or reshaped):
        return
    cls = [k for k in reshaped if ".cv3." in k and k.endswith(".weight") and state[k].shape[0] != own[k].shape[0]]
    if cls and not absent and not unexpected:
        k = cls[-1]
        raise CheckpointError(f"{what} has {state[k].shape[0]} classes, the configured model "
                              f"{own[k].shape[0]} (set the data / --model.num_classes to the checkpoint's, or "
                              f"fine-tune from it with --model.weights)")
    example = (reshaped or absent or unexpected)[0]
    raise CheckpointError(f"{what} does not fit the configured model: {len(absent)} missing, {len(unexpected)} "
                          f"unexpected, {len(reshaped)} of another shape (e.g. {example}); is it a checkpoint of "
                          f"another architecture? (--model.weights loads what fits)")
