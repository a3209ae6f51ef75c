"""Counting the operations that make the host wait for the device, on any device (CPU included).

On a GPU, ``torch.cuda.set_sync_debug_mode`` reports synchronising calls; on a CPU nothing waits, so a training
step that would stall a GPU looks fine. :class:`HostSyncCounter` is a ``TorchDispatchMode`` that sees every aten op
and records those whose result the host needs before it can go on: reading a value (``.item()``, ``bool()``,
``int()``, ``float()``, ``.tolist()``: ``aten._local_scalar_dense``), data-dependent shapes (``nonzero``,
``masked_select``, boolean-mask indexing, ``unique``, ``repeat_interleave`` without ``output_size``) and ``equal``.

    with HostSyncCounter() as syncs:
        loss = step(batch)
    print(syncs.count, syncs.by_origin())   # {"yolo12l/losses/assigner.py:116 nonzero": 1, ...}
"""
from __future__ import annotations

import collections
import traceback
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_ALWAYS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique", "_unique2", "unique_dim",
           "unique_consecutive", "equal", "is_nonzero"}
_THIS = Path(__file__).resolve()
_PACKAGE = _THIS.parents[1]


def _is_mask(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8)


def _syncs(func: Any, args: tuple, kwargs: dict) -> bool:
    name = func.overloadpacket.__name__
    if name in _ALWAYS:
        return True
    if name in ("index", "index_put", "index_put_", "_index_put_impl_"):  # a boolean mask becomes nonzero()
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        return any(_is_mask(i) for i in indices if i is not None)
    if name == "repeat_interleave":
        return kwargs.get("output_size") is None
    return False


class HostSyncCounter(TorchDispatchMode):
    """Records host-synchronising aten ops run inside the ``with`` block (on any device).

    ``events``: one ``(op name, origin)`` per sync, the origin being the innermost frame in yolo12l (or else the
    innermost outside torch), as ``path:line``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (TorchDispatchMode protocol)
        kwargs = kwargs or {}
        if _syncs(func, args, kwargs):
            self.events.append((func.overloadpacket.__name__, self._origin()))
        return func(*args, **kwargs)

    @staticmethod
    def _origin() -> str:
        frames = traceback.extract_stack()[:-2]
        frames = [f for f in frames if Path(f.filename).resolve() != _THIS]
        ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(_PACKAGE)]
        other = [f for f in frames if "/torch/" not in f.filename]
        frame = (ours or other or frames)[-1]
        path = Path(frame.filename)
        try:
            shown = path.resolve().relative_to(_PACKAGE.parent)
        except ValueError:
            shown = Path(*path.parts[-3:])
        return f"{shown}:{frame.lineno}"

    @property
    def count(self) -> int:
        return len(self.events)

    def by_origin(self) -> dict[str, int]:
        """``{"path:line op": count}``, most frequent first."""
        return dict(collections.Counter(f"{origin} {op}" for op, origin in self.events).most_common())
