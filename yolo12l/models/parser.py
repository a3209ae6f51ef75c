"""Ultralytics-style model YAML → list of layers.

A model YAML holds ``nc``, optional ``scales: {letter: [depth, width, max_channels]}`` and ``backbone`` / ``head``
lists of ``[from, repeats, module, args]``. Every module name is looked up in the block registry
(:mod:`yolo12l.models.registry`), which says how its channels and repeats are handled.
"""
from __future__ import annotations

import ast
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ..errors import ConfigError
from .registry import get_block

log = logging.getLogger(__name__)


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` ≥ x."""
    return int(math.ceil(x / divisor) * divisor)


@dataclass
class ModelScale:
    """Compound scaling constants of one scale letter."""

    depth: float = 1.0
    width: float = 1.0
    max_channels: int = 1024


def resolve_scale(d: dict[str, Any], scale: str | None) -> tuple[str | None, ModelScale]:
    """Picks the scale constants; with ``scales`` present and no scale given, the first one is used (warned)."""
    scales = d.get("scales")
    if not scales:
        return scale, ModelScale(d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0), 1024)
    if scale is None:
        scale = next(iter(scales))
        log.warning("no model scale given, using the first one: %r", scale)
    if scale not in scales:
        raise ConfigError(f"scale {scale!r} not in the model's scales {list(scales)}")
    depth, width, max_channels = scales[scale]
    return scale, ModelScale(depth, width, max_channels)


def _eval_arg(a: Any, names: dict[str, Any]) -> Any:
    if isinstance(a, str):
        if a in names:
            return names[a]
        try:
            return ast.literal_eval(a)
        except (ValueError, SyntaxError):
            return a
    return a


def parse_model(d: dict[str, Any], ch: int = 3, scale: str | None = None) -> tuple[nn.ModuleList, list[int]]:
    """Builds the layers of a model YAML dict.

    Returns the layers (each with ``.i`` index, ``.f`` from, ``.type`` YAML name, ``.np`` parameter count) and the
    sorted indices of layers whose outputs are consumed later (must be kept during the forward pass).
    """
    nc = d["nc"]
    scale, sc = resolve_scale(d, scale)
    names = {"nc": nc, "None": None, "True": True, "False": False}
    channels: list[int | None] = []  # output width of each layer
    layers, save = [], set()
    rows = list(d["backbone"]) + list(d.get("head", []))
    for i, row in enumerate(rows):
        if len(row) != 4:
            raise ConfigError(f"layer {i}: expected [from, repeats, module, args], got {row!r}")
        f, n, name, args = row
        spec = get_block(name)
        args = [_eval_arg(a, names) for a in (args or [])]
        n = max(round(n * sc.depth), 1) if n > 1 else n
        fs = [f] if isinstance(f, int) else list(f)
        c_in = [ch if (i == 0 and x == -1) else channels[x] for x in fs]
        if spec.channels == "scaled":
            c1, c2 = c_in[0], args[0]
            if c2 != nc:
                c2 = make_divisible(min(c2, sc.max_channels) * sc.width, 8)
            args = [c1, c2, *args[1:]]
            if spec.repeats:
                args.insert(2, n)
                n = 1
        elif spec.channels == "sum":
            c2 = sum(c_in)
        elif spec.channels == "same":
            c2 = c_in[0]
        else:  # head
            args.append(c_in)
            c2 = None
        overrides = spec.overrides_for(scale)
        if n > 1:
            m = nn.Sequential(*(spec.instantiate(args, overrides) for _ in range(n)))
        else:
            m = spec.instantiate(args, overrides)
        m.i, m.f, m.type = i, f, name
        m.np = sum(p.numel() for p in m.parameters())
        save.update(x % i for x in fs if x != -1)
        layers.append(m)
        channels.append(c2)
    return nn.ModuleList(layers), sorted(save)
