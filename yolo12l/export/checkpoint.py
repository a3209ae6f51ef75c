"""Networks from weight files, for export: yolo12l Lightning checkpoints and Ultralytics ``.pt`` files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import CheckpointError
from ..interop.convert import convert_ultralytics_state_dict
from ..models import DetectionNetwork, build_model

__all__ = ["load_network"]


def load_network(path: str | os.PathLike) -> DetectionNetwork:
    """Builds the network stored in ``path`` (eval mode, float32, class names in ``net.names``).

    * yolo12l Lightning ``.ckpt``: architecture from ``hyper_parameters`` (``model``, ``scale``, ``num_classes``,
      ``class_names``), weights = the ``net.``-prefixed entries of ``state_dict``. Read with
      ``torch.load(weights_only=True)``.
    * Ultralytics / YOLOv12 ``.pt`` (a pickled model): read with the restricted unpickler of
      :func:`yolo12l.interop.read_ultralytics_checkpoint` (runs no pickle code); architecture from its ``yaml``.

    Raises:
        FileNotFoundError, ValueError (unknown layout, architecture not recorded, weights not matching it),
        yolo12l.interop.UnsafeCheckpointError (a pickle referencing code outside the allow-list).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # e.g. a pickled model object (Ultralytics), which is not plain tensors and containers
        obj = None
    if isinstance(obj, Mapping) and isinstance(obj.get("hyper_parameters"), Mapping) \
            and isinstance(obj.get("state_dict"), Mapping):
        return _from_lightning(path, obj["hyper_parameters"], obj["state_dict"])
    return _from_ultralytics(path)  # plain state dicts carrying a model yaml are handled there too


def _load_strict(net: DetectionNetwork, state: Mapping[str, torch.Tensor], path: Path) -> DetectionNetwork:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                if k in state and state[k].shape != v.shape]
    if missing or unexpected or reshaped:
        raise CheckpointError(f"{path}: weights do not match the recorded architecture ({len(missing)} missing, e.g. "
                         f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}; {len(reshaped)} of "
                         f"another shape, e.g. {reshaped[:3]})")
    net.load_state_dict(dict(state))
    return net.float().eval()


def _from_lightning(path: Path, hp: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]) -> DetectionNetwork:
    if "model" not in hp or "num_classes" not in hp:
        raise CheckpointError(f"{path}: hyper_parameters lack 'model'/'num_classes' (keys: {sorted(hp)})")
    nc = int(hp["num_classes"])
    net = build_model(hp["model"], scale=hp.get("scale"), nc=nc)
    names = hp.get("class_names") or [str(i) for i in range(nc)]
    if len(names) != nc:
        raise CheckpointError(f"{path}: {len(names)} class names for {nc} classes")
    net.names = {i: str(n) for i, n in enumerate(names)}
    state = {k[len("net."):]: v for k, v in state_dict.items() if k.startswith("net.")}
    if not state:
        raise CheckpointError(f"{path}: state_dict has no 'net.' entries")
    return _load_strict(net, state, path)


def _from_ultralytics(path: Path) -> DetectionNetwork:
    from ..interop import UnsafeCheckpointError, read_ultralytics_checkpoint

    try:
        ckpt = read_ultralytics_checkpoint(path)
    except (UnsafeCheckpointError, ValueError):
        raise
    except Exception as exc:  # a damaged or foreign file: the readers fail in many ways (KeyError, EOFError ...)
        raise CheckpointError(f"{path}: neither a yolo12l .ckpt nor an Ultralytics .pt "
                         f"({type(exc).__name__}: {exc})") from exc
    if ckpt.yaml is None:
        raise CheckpointError(f"{path}: the file records no model yaml, so the architecture is unknown (a yolo12l "
                         f".ckpt or an Ultralytics .pt holding the model object is needed)")
    net = build_model(ckpt.yaml, scale=ckpt.yaml.get("scale"), nc=ckpt.nc)
    if ckpt.names:
        net.names = dict(ckpt.names)
    return _load_strict(net, convert_ultralytics_state_dict(ckpt.state_dict), path)
