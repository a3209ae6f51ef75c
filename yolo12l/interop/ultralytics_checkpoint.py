"""Read Ultralytics `.pt` checkpoints (and the YOLOv12 paper repo's) without ultralytics, running no pickle code.

An Ultralytics checkpoint pickles a dict: ``model`` / ``ema`` (the whole ``DetectionModel``, usually fp16, either may
be ``None``) plus training metadata (``epoch``, ``optimizer``, ``train_args``, ``date``, ``version``, ...). It is read
with :func:`yolo12l.interop.safe_unpickle.safe_load`, and the state dict is recovered by walking the stand-in module
tree (``_parameters``, persistent ``_buffers``, ``_modules``) the way ``nn.Module.state_dict`` does. Plain state-dict
files (``{name: tensor}``, ``{"state_dict": ...}``, ``{"model": {name: tensor}}``) are accepted too.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping

import torch

from ..errors import CheckpointError
from .safe_unpickle import StandIn, UnsafeCheckpointError, safe_load

__all__ = ["UltralyticsCheckpoint", "read_ultralytics_checkpoint", "stand_in_state_dict"]

_MODEL_KEYS = ("model", "ema")
_MAX_DEPTH = 64
_HEAD_CLS_WEIGHT = re.compile(r"(.*\.)?cv3\.\d+\.2\.weight$")  # Detect: last 1x1 conv of each class branch


@dataclass
class UltralyticsCheckpoint:
    """What a checkpoint file holds, in plain types.

    Attributes:
        state_dict: Ultralytics key names (``model.0.conv.weight`` ...) → CPU tensors; floating ones in float32,
            ``num_batches_tracked`` stays int64.
        yaml: the model's architecture dict (``backbone``, ``head``, ``nc``, ``scale`` ...), ``None`` for plain
            state-dict files.
        nc: number of classes (yaml ``nc``, else the model's ``nc``, else the head's class-conv width).
        names: class index → name (``None`` if the file has none).
        stride: per-level strides, e.g. ``(8.0, 16.0, 32.0)`` (``None`` if unknown).
        meta: the other top-level entries (``version``, ``date``, ``epoch``, ``train_args`` ...), minus optimizer
            state and the model objects.
        source: ``"ema"`` or ``"model"`` (which object the weights came from) or ``"state_dict"``.
    """

    state_dict: OrderedDict[str, torch.Tensor]
    yaml: dict | None
    nc: int | None
    names: dict[int, str] | None
    stride: tuple[float, ...] | None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "model"

    @property
    def version(self) -> str | None:
        """Ultralytics version that wrote the file."""
        v = self.meta.get("version")
        return v if isinstance(v, str) else None

    @property
    def train_args(self) -> dict[str, Any]:
        """Training arguments (``imgsz``, ``epochs`` ...), empty when absent."""
        args = self.meta.get("train_args")
        return dict(args) if isinstance(args, Mapping) else dict(getattr(args, "__dict__", {}) or {})


def _as_float32(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return t.to(torch.float32).contiguous() if t.is_floating_point() else t.contiguous()


def stand_in_state_dict(module: StandIn, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
    """``nn.Module.state_dict()`` of a stand-in module tree (raw dtypes): own parameters, persistent buffers, then
    children in order. ``None`` entries are skipped, like torch does."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    _walk(module, prefix, out, depth=0, on_path=set())
    return out


def _walk(module: Any, prefix: str, out: dict, depth: int, on_path: set[int]) -> None:
    where = prefix.rstrip(".") or "<root>"
    if not isinstance(module, StandIn):
        raise UnsafeCheckpointError(f"{where}: expected a module, got {type(module).__name__}")
    if depth > _MAX_DEPTH or id(module) in on_path:
        raise UnsafeCheckpointError(f"{where}: module tree too deep or cyclic")
    attrs = module.__dict__
    non_persistent = attrs.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        entries = attrs.get(group) or {}
        if not isinstance(entries, Mapping):
            raise UnsafeCheckpointError(f"{where}.{group} is a {type(entries).__name__}, not a dict")
        for name, tensor in entries.items():
            if tensor is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise UnsafeCheckpointError(f"{where}.{group}[{name!r}] is a {type(tensor).__name__}, not a tensor")
            out[prefix + name] = tensor
    children = attrs.get("_modules") or {}
    if not isinstance(children, Mapping):
        raise UnsafeCheckpointError(f"{where}._modules is a {type(children).__name__}, not a dict")
    on_path.add(id(module))
    for name, child in children.items():
        if child is not None:
            _walk(child, f"{prefix}{name}.", out, depth + 1, on_path)
    on_path.discard(id(module))


def _normalise_names(names: Any) -> dict[int, str] | None:
    if names is None:
        return None
    if isinstance(names, (list, tuple)):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in sorted(names.items(), key=lambda kv: int(kv[0]))}
    raise ValueError(f"class names must be a dict or a list, got {type(names).__name__}")


def _stride(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return tuple(float(s) for s in value.flatten().tolist())
    if isinstance(value, (list, tuple)):
        return tuple(float(s) for s in value)
    return (float(value),)


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _head_nc(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    widths = {int(v.shape[0]) for k, v in state_dict.items() if _HEAD_CLS_WEIGHT.match(k)}
    return widths.pop() if len(widths) == 1 else None


def _from_state_dict(sd: Mapping[str, torch.Tensor], meta: dict[str, Any]) -> UltralyticsCheckpoint:
    state = OrderedDict((k, _as_float32(v)) for k, v in sd.items())
    yaml = meta.get("yaml") if isinstance(meta.get("yaml"), dict) else None
    names = _normalise_names(meta.get("names"))
    nc = (yaml or {}).get("nc", meta.get("nc"))
    if nc is None:
        nc = len(names) if names else _head_nc(state)
    return UltralyticsCheckpoint(state_dict=state, yaml=yaml, nc=int(nc) if nc is not None else None, names=names,
                                 stride=_stride(meta.get("stride")), meta=meta, source="state_dict")


def read_ultralytics_checkpoint(path: str | os.PathLike) -> UltralyticsCheckpoint:
    """Read an Ultralytics / YOLOv12-paper ``.pt`` file (whole pickled model) or a plain state-dict file.

    The model object is taken from ``ema`` when present, else ``model`` (as Ultralytics does when loading weights).

    Raises:
        UnsafeCheckpointError: the file references code outside the allow-list (nothing was executed).
        ValueError: the file holds neither a model object nor a state dict.
    """
    obj = safe_load(path)
    if _is_tensor_dict(obj):
        return _from_state_dict(obj, {})
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{os.fspath(path)}: expected a checkpoint dict, got {type(obj).__name__}")
    meta = {k: v for k, v in obj.items() if k not in ("model", "ema", "optimizer", "state_dict")}
    source = next((k for k in ("ema", "model") if isinstance(obj.get(k), StandIn)), None)
    if source is None:
        for key in ("state_dict", "model", "ema"):
            if _is_tensor_dict(obj.get(key)):
                return _from_state_dict(obj[key], meta)
        raise CheckpointError(f"{os.fspath(path)}: no model object or state dict under 'model'/'ema'/'state_dict' "
                         f"(keys: {sorted(map(str, obj))})")
    model = obj[source]
    state = OrderedDict((k, _as_float32(v)) for k, v in stand_in_state_dict(model).items())
    if not state:
        raise CheckpointError(f"{os.fspath(path)}: the {source!r} model holds no parameters")
    attrs = model.__dict__
    yaml = attrs.get("yaml") if isinstance(attrs.get("yaml"), dict) else None
    nc = (yaml or {}).get("nc", attrs.get("nc"))
    names = _normalise_names(attrs.get("names"))
    if nc is None:
        nc = len(names) if names else _head_nc(state)
    if "args" in attrs and "train_args" not in meta:
        meta["train_args"] = attrs["args"]
    return UltralyticsCheckpoint(state_dict=state, yaml=yaml, nc=int(nc) if nc is not None else None, names=names,
                                 stride=_stride(attrs.get("stride")), meta=meta, source=source)
