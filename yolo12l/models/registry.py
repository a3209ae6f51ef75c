"""Block registry: how the YAML parser turns ``[from, repeats, module, args]`` into a module.

A block describes itself once, at registration, instead of the parser carrying an if-chain on class names::

    @register_block(channels="scaled", repeats=True, scale_overrides={"mlx": {"c3k": True}})
    class C3k2(nn.Module): ...

``channels`` says how the output channel count is found and what the constructor receives:

* ``"scaled"``: ``args[0]`` is the output width ``c2``; it is scaled by the model width (multiple of 8, capped by
  ``max_channels``, except when it equals ``nc``) and the constructor is called as ``cls(c1, c2, *args[1:])``.
* ``"sum"``: output channels are the sum of the inputs' (``Concat``); args are passed unchanged.
* ``"same"``: output channels equal the input's (``nn.Upsample``); args are passed unchanged.
* ``"head"``: the list of input channel counts is appended to args (``Detect``); the layer has no output width.

``repeats=True`` hands the depth-scaled ``repeats`` to the constructor as its third argument (after ``c1, c2``)
instead of stacking the block ``repeats`` times. ``scale_overrides`` maps a string of scale letters to keyword
arguments forced for those scales (YOLO12: C3k2 uses C3k inner blocks for m/l/x, A2C2f gets residual scaling and
mlp_ratio 1.2 for l/x).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import torch.nn as nn

from ..errors import UnknownBlockError

_CHANNEL_MODES = ("scaled", "sum", "same", "head")


@dataclass(frozen=True)
class BlockSpec:
    """How the parser builds one registered block type."""

    name: str
    cls: Callable[..., nn.Module]
    channels: str = "scaled"
    repeats: bool = False
    scale_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def overrides_for(self, scale: str | None) -> dict[str, Any]:
        """Keyword arguments forced for this scale letter (empty when none apply)."""
        out: dict[str, Any] = {}
        if scale:
            for letters, kwargs in self.scale_overrides.items():
                if scale in letters:
                    out.update(kwargs)
        return out

    def instantiate(self, args: list[Any], overrides: dict[str, Any]) -> nn.Module:
        """Calls the constructor with positional ``args``; ``overrides`` replace parameters by name."""
        if not overrides:
            return self.cls(*args)
        params = list(inspect.signature(self.cls).parameters)
        args = list(args)
        kwargs = {}
        for key, value in overrides.items():
            if key not in params:
                raise TypeError(f"scale override {key!r} is not a parameter of {self.name}{tuple(params)}")
            pos = params.index(key)
            if pos < len(args):
                args[pos] = value
            else:
                kwargs[key] = value
        return self.cls(*args, **kwargs)


_REGISTRY: dict[str, BlockSpec] = {}


def register_block(
    name: str | None = None,
    *,
    channels: str = "scaled",
    repeats: bool = False,
    scale_overrides: dict[str, dict[str, Any]] | None = None,
    override: bool = False,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class decorator registering a block for use in model YAML under ``name`` (default: the class name)."""
    if channels not in _CHANNEL_MODES:
        raise ValueError(f"channels must be one of {_CHANNEL_MODES}, got {channels!r}")

    def deco(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or cls.__name__
        if key in _REGISTRY and _REGISTRY[key].cls is not cls and not override:
            raise KeyError(f"block {key!r} is already registered to {_REGISTRY[key].cls!r}")
        _REGISTRY[key] = BlockSpec(key, cls, channels, repeats, dict(scale_overrides or {}))
        return cls

    return deco


def unregister_block(name: str) -> None:
    """Removes a registration (tests that register temporary blocks clean up with this)."""
    _REGISTRY.pop(name, None)


def get_block(name: str) -> BlockSpec:
    """Looks a block up by its YAML name; ``nn.X`` names not registered fall back to ``torch.nn.X`` (same width)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    attr = name.removeprefix("torch.").removeprefix("nn.")
    if attr != name and hasattr(nn, attr):
        return BlockSpec(name, getattr(nn, attr), channels="same")
    known = ", ".join(sorted(_REGISTRY))
    raise UnknownBlockError(f"unknown block {name!r}; registered blocks: {known}. Register yours with @register_block.")


def registered_blocks() -> dict[str, BlockSpec]:
    """A copy of the registry, name → spec."""
    return dict(_REGISTRY)
