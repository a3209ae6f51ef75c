"""Build a yolo12l network from an Ultralytics / YOLOv12-paper checkpoint: ``load_ultralytics_checkpoint``.

Three weight layouts are recognised from the state-dict keys (the model YAML names the same block, ``A2C2f``, for all):

``yolo12``
    Ultralytics YOLO12: attention ``attn.qkv`` (fused, per head [q, k, v]), 7×7 ``attn.pe`` without bias.
``yolov12-v1``
    the paper repository's v1.0 code: as ``yolo12`` plus a bias on the ``pe`` depthwise conv. It is folded into the
    BatchNorm that follows, ``BN(conv(x) + b) = BN'(conv(x))`` with ``running_mean' = running_mean − b`` (exact), so
    the weights load into the plain YOLO12 network. Parameter counts therefore differ from the paper repo's by the
    number of pe channels (768 for n, 1536 s, 2048 m, 4096 l, 6144 x), and the state dict has one entry less per
    attention block.
``yolov12-turbo``
    the paper repository's later "turbo" code: ``attn.qk`` + ``attn.v`` and a 5×5 ``pe`` (see
    :mod:`yolo12l.models.blocks.turbo`); built with ``A2C2f_Turbo`` in place of ``A2C2f``. Its grouped stride-2 convs
    (layers 1 and 3) are written in the checkpoint's YAML; without a YAML, ``yolov12-turbo.yaml`` is used.

Anything else (no area-attention weights, blocks yolo12l does not have, keys or shapes that do not fit) is refused
with a :class:`ValueError` naming what was found.
"""
from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import struct
import zipfile
from collections import OrderedDict
from typing import Any
from collections.abc import Mapping

import torch
import yaml as pyyaml

from ..errors import CheckpointError
from ..models import build_model, get_block, load_model_yaml
from .convert import convert_ultralytics_state_dict
from ..models.network import DetectionNetwork
from ..models.parser import parse_model
from .safe_unpickle import UnsafeCheckpointError
from .ultralytics_checkpoint import read_ultralytics_checkpoint

__all__ = ["VARIANTS", "detect_variant", "fold_pe_bias", "load_ultralytics_checkpoint", "network_state_dict"]

log = logging.getLogger(__name__)

VARIANTS = {  # variant -> (shipped YAML used when the file has none, YAML block renames)
    "yolo12": ("yolo12.yaml", {}),
    "yolov12-v1": ("yolo12.yaml", {}),
    "yolov12-turbo": ("yolov12-turbo.yaml", {"A2C2f": "A2C2f_Turbo"}),
}
_QKV = re.compile(r"\.attn\.qkv\.conv\.weight$")
_QK = re.compile(r"\.attn\.qk\.conv\.weight$")
_PE_BIAS = re.compile(r"\.attn\.pe\.conv\.bias$")


def detect_variant(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``"yolo12"``, ``"yolov12-v1"`` or ``"yolov12-turbo"`` from the attention keys; ValueError for anything else."""
    qkv = sum(bool(_QKV.search(k)) for k in state_dict)
    qk = sum(bool(_QK.search(k)) for k in state_dict)
    pe_bias = sum(bool(_PE_BIAS.search(k)) for k in state_dict)
    if qkv and qk:
        raise CheckpointError(f"unsupported checkpoint: it mixes fused attn.qkv ({qkv}) and split attn.qk ({qk}) "
                         "attention weights")
    if qk:
        if pe_bias:
            raise CheckpointError(f"unsupported checkpoint: turbo attention (attn.qk) with a pe conv bias ({pe_bias})")
        return "yolov12-turbo"
    if qkv:
        if pe_bias and pe_bias != qkv:
            raise CheckpointError(f"unsupported checkpoint: {pe_bias} of {qkv} attention blocks have a pe conv bias")
        return "yolov12-v1" if pe_bias else "yolo12"
    sample = ", ".join(list(state_dict)[:4])
    attn = sorted({k.split(".attn.")[1].split(".")[0] for k in state_dict if ".attn." in k})
    found = f"attention sub-modules {attn}" if attn else "no area-attention weights"
    raise CheckpointError(f"unsupported checkpoint: {found} (expected attn.qkv or attn.qk); {len(state_dict)} tensors, "
                     f"e.g. {sample}. Only YOLO12 / YOLOv12 (v1.0, turbo) detection models can be loaded.")


def fold_pe_bias(state_dict: Mapping[str, torch.Tensor]) -> tuple[OrderedDict[str, torch.Tensor], int]:
    """Folds every ``attn.pe.conv.bias`` (YOLOv12 v1.0) into the following BatchNorm's running mean.

    Returns the new state dict (bias entries removed, other tensors shared) and the number of biases folded.
    """
    out: OrderedDict[str, torch.Tensor] = OrderedDict(state_dict)
    folded = 0
    for key in [k for k in state_dict if _PE_BIAS.search(k)]:
        mean_key = key[: -len("conv.bias")] + "bn.running_mean"
        if mean_key not in out:
            raise ValueError(f"{key}: no BatchNorm {mean_key} to fold the pe bias into")
        bias = out.pop(key)
        out[mean_key] = out[mean_key] - bias.to(out[mean_key].dtype)
        folded += 1
    return out, folded


def network_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[OrderedDict[str, torch.Tensor], str, int]:
    """Ultralytics / paper keys → yolo12l network keys, pe biases folded. Returns (state dict, variant, folded)."""
    sd = OrderedDict(convert_ultralytics_state_dict(dict(state_dict)))
    if not sd:
        raise CheckpointError(f"unsupported checkpoint: no 'model.*' network weights among {len(state_dict)} tensors "
                         f"(e.g. {', '.join(list(state_dict)[:4])})")
    variant = detect_variant(sd)
    sd, folded = fold_pe_bias(sd)
    return sd, variant, folded


def _checkpoint_yaml(ckpt: Any) -> dict | None:
    if ckpt.yaml is not None:
        return copy.deepcopy(ckpt.yaml)
    text = ckpt.meta.get("yaml")  # plain state-dict files may carry the architecture file as text
    if isinstance(text, str):
        d = pyyaml.safe_load(text)
        if isinstance(d, dict) and "backbone" in d:
            return d
    return None


def _rename_blocks(cfg: dict, renames: dict[str, str]) -> dict:
    for part in ("backbone", "head"):
        cfg[part] = [[row[0], row[1], renames.get(row[2], row[2]), row[3]]
                     if isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str) else row
                     for row in cfg.get(part) or []]
    return cfg


def _check_blocks(cfg: dict, variant: str) -> None:
    unknown = []
    for part in ("backbone", "head"):
        for row in cfg.get(part, []):
            name = row[2] if isinstance(row, (list, tuple)) and len(row) == 4 else repr(row)
            try:
                get_block(str(name))
            except KeyError:
                unknown.append(str(name))
    if unknown:
        raise CheckpointError(f"unsupported architecture: its model YAML uses {sorted(set(unknown))}, "
                              f"which yolo12l does not have (weights look like {variant})")


def _shape_mismatch(own: Mapping[str, torch.Tensor], sd: Mapping[str, torch.Tensor]) -> list[str]:
    out = [f"missing {k}" for k in own if k not in sd]
    out += [f"unexpected {k}" for k in sd if k not in own]
    out += [f"{k}: file {tuple(sd[k].shape)} vs network {tuple(own[k].shape)}"
            for k in sd if k in own and own[k].shape != sd[k].shape]
    return out


def _meta_state(cfg: dict, scale: str | None, nc: int | None, ch: int) -> dict[str, torch.Tensor]:
    """Key → (meta) tensor of the network ``cfg`` builds at ``scale``, without allocating or running it."""
    cfg = {**cfg, "nc": nc if nc is not None else cfg["nc"]}
    try:
        with torch.device("meta"):
            layers, _ = parse_model(cfg, ch=ch, scale=scale)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise CheckpointError(
            f"cannot build a network from the checkpoint's model YAML at scale {scale!r}: {exc}") from exc
    return {f"model.{k}": v for k, v in layers.state_dict().items()}


def _infer_scale(cfg: dict, sd: Mapping[str, torch.Tensor], nc: int | None, ch: int) -> str | None:
    """The scale letter whose network has exactly ``sd``'s keys and shapes."""
    for letter in cfg.get("scales") or {}:
        if not _shape_mismatch(_meta_state(cfg, letter, nc, ch), sd):
            return letter
    return None


def load_ultralytics_checkpoint(path: str | os.PathLike) -> tuple[DetectionNetwork, dict[str, Any]]:
    """A yolo12l network (eval mode) holding the weights of an Ultralytics or YOLOv12-paper checkpoint.

    ``path`` is a whole pickled checkpoint (``{"model"/"ema": DetectionModel, ...}``, read without running pickle
    code) or a plain state-dict file (``{name: tensor}`` or ``{"state_dict": ..., "yaml": <dict or YAML text>,
    "scale": "n"}``). The architecture comes from the file's model YAML (else the shipped YAML of the detected
    variant, at the scale whose shapes fit).

    Returns:
        ``(net, info)`` with ``info`` = ``nc``, ``names`` (index → name), ``yaml`` (the dict the network was built
        from), ``scale``, ``stride`` (tuple), ``variant`` (``yolo12`` / ``yolov12-v1`` / ``yolov12-turbo``),
        ``folded_pe_biases`` (count), ``source`` (``ema`` / ``model`` / ``state_dict``), ``version``,
        ``train_args``, ``path``.

    Raises:
        ValueError: not a YOLO12 / YOLOv12 detection checkpoint, or weights that do not fit its architecture.
        UnsafeCheckpointError: the pickle references code outside the allow-list (nothing was executed).
    """
    try:
        ckpt = read_ultralytics_checkpoint(path)
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{os.fspath(path)}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    sd, variant, folded = network_state_dict(ckpt.state_dict)
    shipped, renames = VARIANTS[variant]
    cfg = _checkpoint_yaml(ckpt)
    from_file = cfg is not None
    if cfg is None:
        cfg, _ = load_model_yaml(shipped)
    _check_blocks(_rename_blocks(cfg, renames), variant)
    ch = int(cfg.get("channels", cfg.get("ch", 3)) or 3)
    nc = ckpt.nc
    scale = cfg.get("scale") or ckpt.meta.get("scale")
    if not isinstance(scale, str) or scale not in (cfg.get("scales") or {}):
        scale = _infer_scale(cfg, sd, nc, ch) if cfg.get("scales") else None
        if scale is None and cfg.get("scales"):
            raise CheckpointError(f"{os.fspath(path)}: the {variant} weights fit no scale of "
                             f"{'its model YAML' if from_file else shipped}")
    problems = _shape_mismatch(_meta_state(cfg, scale, nc, ch), sd)
    if problems:
        more = f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""
        raise CheckpointError(f"{os.fspath(path)}: {variant} weights do not fit the network built from "
                         f"{'its model YAML' if from_file else shipped} at scale {scale!r}: "
                         f"{'; '.join(problems[:6])}{more}")
    net = build_model(cfg, scale=scale, nc=nc, ch=ch)
    net.load_state_dict(sd, strict=True)
    net.eval()
    stride = tuple(float(s) for s in net.stride.tolist())
    if ckpt.stride is not None and tuple(ckpt.stride) != stride:
        raise CheckpointError(f"{os.fspath(path)}: the checkpoint's strides {ckpt.stride} differ from the network's "
                         f"{stride}")
    names = dict(ckpt.names) if ckpt.names else {i: str(i) for i in range(net.nc)}
    if len(names) != net.nc:
        log.warning("%s: %d class names for %d classes; using indices for the rest", path, len(names), net.nc)
        names = {i: names.get(i, str(i)) for i in range(net.nc)}
    net.names = names
    info = {
        "nc": net.nc, "names": names, "yaml": net.yaml, "scale": net.scale, "stride": stride, "variant": variant,
        "folded_pe_biases": folded, "source": ckpt.source, "version": ckpt.version, "train_args": ckpt.train_args,
        "path": os.fspath(path),
    }
    return net, info
