"""Fixture ``save_as_ultralytics``: pickle a yolo12l network the way Ultralytics / the YOLOv12 repo pickle theirs.

Their checkpoint files pickle ``ultralytics.nn.tasks.DetectionModel`` (submodules ``ultralytics.nn.modules.*`` and
``torch.nn.*``). Here each yolo12l class of a network is swapped for a same-behaviour subclass registered under a fake
``ultralytics.nn.tasks`` / ``ultralytics.nn.modules.block`` module (no Ultralytics code involved), so ``torch.save``
writes the same global names a real checkpoint holds.
"""
from __future__ import annotations

import sys
import types

import pytest
import torch

from yolo12l.models.network import DetectionNetwork

TASKS, BLOCKS = "ultralytics.nn.tasks", "ultralytics.nn.modules.block"


@pytest.fixture
def save_as_ultralytics(monkeypatch):
    """``save(net, path, **meta)``: see :func:`save_as_ultralytics_checkpoint`."""
    return lambda net, path, **meta: save_as_ultralytics_checkpoint(net, path, monkeypatch, **meta)


def save_as_ultralytics_checkpoint(net: DetectionNetwork, path, monkeypatch: pytest.MonkeyPatch, **meta) -> None:
    """Rewrites ``net``'s classes in place (it stays usable) and saves ``{"model": net, "ema": None, **meta}``."""
    modules: dict[str, types.ModuleType] = {}

    def fake(name: str) -> types.ModuleType:
        if name not in modules:
            modules[name] = types.ModuleType(name)
            monkeypatch.setitem(sys.modules, name, modules[name])
        return modules[name]

    for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.modules"):
        fake(name)
    subclasses: dict[type, type] = {}
    for m in net.modules():
        cls = type(m)
        if cls.__module__.startswith("torch."):
            continue
        if cls not in subclasses:
            target = TASKS if isinstance(m, DetectionNetwork) else BLOCKS
            name = "DetectionModel" if target == TASKS else cls.__name__.replace("Turbo", "").rstrip("_")
            sub = type(name, (cls,), {"__module__": target, "__qualname__": name})
            setattr(fake(target), name, sub)
            subclasses[cls] = sub
        m.__class__ = subclasses[cls]
    torch.save({"model": net, "ema": None, **meta}, path)
