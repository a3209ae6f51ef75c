"""Checkpoints written atomically (a crash mid-write never leaves a truncated ``last.ckpt``), and the gradient
accumulation state a checkpoint taken between two optimizer steps keeps (so a resumed run takes the same steps)."""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves to a temporary file in the target folder, fsyncs it, then ``os.replace``s it into place.

    Loading uses ``weights_only=True`` (checkpoints hold tensors and plain containers only), so opening a
    checkpoint from elsewhere cannot run code.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def accumulation_state(params: Iterable[torch.nn.Parameter], last_step_batch: int, skip_step: bool) -> dict[str, Any]:
    """``checkpoint["accumulation"]``: the global batch index of the last optimizer step, whether the next step is
    to be skipped (a non-finite batch since) and the gradients accumulated so far (None when there are none)."""
    pending = [p.grad.detach().clone() if p.grad is not None else None for p in params]
    return {"last_step_batch": last_step_batch, "skip_step": skip_step,
            "grads": pending if any(g is not None for g in pending) else None}


def read_accumulation(checkpoint: dict[str, Any]) -> tuple[int, bool, list[torch.Tensor | None] | None]:
    """(last_step_batch, skip_step, grads) from a checkpoint (-1, False, None for one without the entry)."""
    acc = checkpoint.get("accumulation") or {}
    return int(acc.get("last_step_batch", -1)), bool(acc.get("skip_step", False)), acc.get("grads")


def restore_gradients(params: Sequence[torch.nn.Parameter], grads: Sequence[torch.Tensor | None]) -> None:
    """Puts a checkpoint's accumulated gradients back (on each parameter's device and dtype); a warning, and none
    restored, when they do not match the parameters."""
    if len(grads) != len(params) or any(g is not None and g.shape != p.shape for g, p in zip(grads, params)):
        log.warning("the checkpoint's accumulated gradients do not match the network: dropped")
        return
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.to(device=p.device, dtype=p.dtype)
