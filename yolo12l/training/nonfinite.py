"""Skipping non-finite training steps with device-side work only (no host sync per step).

A batch whose loss is non-finite on any rank, or an optimizer step whose accumulated gradients are non-finite, must
leave the weights, the optimizer state and the BatchNorm statistics as they were. Reading ``isfinite(loss)`` on the
host each step would make it wait for the device; instead every decision stays a device tensor:

* the buffers (BatchNorm statistics) are copied before the forward into one flat tensor per dtype; after the loss,
  ``where(bad, backup, new)`` puts them back when the batch is bad (a select, not a branch);
* ``bad`` flags accumulate until the optimizer step, OR-ed with ``!isfinite(total grad norm)`` (the norm that the
  clipping computes anyway) into ``found_inf``, a 0-dim float tensor: torch's fused optimizers skip the whole step
  on the device when it is 1 (as they do under a GradScaler), step counter included;
* the number of skipped steps is a device counter, read when somebody asks (epoch end, checkpoint).

Skipping leaves the weights, BatchNorm statistics and optimizer state as they were; the step counter and the EMA
(which then averages in the unchanged weights) still advance, and the LR schedule depends on the batch index only.
With gradient accumulation the whole optimizer step is skipped. Skipped steps are reported once per epoch, a counted
warning (:meth:`NonFiniteGuard.report_skipped`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import logging

import torch
import torch.distributed as dist

log = logging.getLogger("yolo12l.training.module")  # the warning keeps the name it always had


class _BufferGroup:
    """Buffers of one (device, dtype), with a flat backup and a flat scratch tensor and their per-buffer views,
    made once: a snapshot is one ``_foreach_copy_``, a restore one ``cat`` + one ``where`` + one ``_foreach_copy_``,
    whatever the number of buffers."""

    def __init__(self, buffers: list[torch.Tensor]) -> None:
        self.buffers = [b.detach() for b in buffers]
        self.flat_views = [b.reshape(-1) for b in self.buffers]
        sizes = [b.numel() for b in self.buffers]
        self.backup = torch.empty(sum(sizes), dtype=buffers[0].dtype, device=buffers[0].device)
        self.scratch = torch.empty_like(self.backup)
        self.backup_views = [v.view_as(b) for v, b in zip(self.backup.split(sizes), self.buffers)]
        self.scratch_views = [v.view_as(b) for v, b in zip(self.scratch.split(sizes), self.buffers)]

    def snapshot(self) -> None:
        torch._foreach_copy_(self.backup_views, self.buffers)

    def restore_if(self, bad: torch.Tensor) -> None:
        torch.cat(self.flat_views, out=self.scratch)
        torch.where(bad.to(self.backup.device), self.backup, self.scratch, out=self.scratch)
        torch._foreach_copy_(self.buffers, self.scratch_views)


class NonFiniteGuard:
    """Per-batch and per-step non-finite checks kept on the device.

    Use, per fit: :meth:`track` (the buffers); per batch: :meth:`snapshot` (before the forward), :meth:`check_loss`
    (after the loss),
    :meth:`restore_buffers` (after the backward);
    per optimizer step: :meth:`found_inf` (after backward and clipping), given to the fused optimizer as
    ``optimizer.found_inf``.
    """

    def __init__(self) -> None:
        self._groups: list[_BufferGroup] = []
        self._tracking = False
        self._bad: torch.Tensor | None = None  # bool (): this batch's flag, until restore_buffers
        self._pending: torch.Tensor | None = None  # bool (): a bad batch since the last optimizer step
        self._skipped: torch.Tensor | None = None  # float32 (): skipped optimizer steps
        self._skipped_host = 0  # what was counted before the device counter existed (a checkpoint's value)
        self._reported = 0  # skipped steps already reported

    # ----------------------------------------------------------------------------------------------- per batch
    def track(self, buffers: Sequence[torch.Tensor]) -> None:
        """The buffers (e.g. ``net.buffers()``) to keep, once per fit: collecting them walks the whole module tree,
        which costs more host time than the copies. Call again if the buffers are replaced (``module.to``)."""
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for b in buffers:
            groups.setdefault((b.device, b.dtype), []).append(b)
        self._groups = [_BufferGroup(g) for g in groups.values()]
        self._tracking = True

    def snapshot(self) -> None:
        """Copies the tracked buffers, which the training forward is about to update."""
        for group in self._groups:
            group.snapshot()

    def check_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Flags the batch when ``loss`` is non-finite on any rank; returns the flag, a bool () device tensor
        (all-reduced under ``torch.distributed``, without a host wait)."""
        bad = ~torch.isfinite(loss.detach()).all()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = bad.to(torch.float32)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            bad = flag > 0
        self._bad = bad
        self._pending = bad if self._pending is None else self._pending | bad.to(self._pending.device)
        return bad

    def restore_buffers(self) -> None:
        """Puts the snapshot buffers back if the batch was flagged (a device-side select). Call it after the
        backward: BatchNorm's backward keeps its running statistics, which an in-place copy before it would break."""
        bad = self._bad
        if bad is None:
            return
        with torch.no_grad():
            for group in self._groups:
                group.restore_if(bad)
        self._bad = None

    # ------------------------------------------------------------------------------------------ per optimizer step
    def found_inf(self, grad_norm: torch.Tensor | None, device: torch.device | None = None) -> torch.Tensor:
        """() float32 on the gradients' device: 1 when this step must be skipped (a bad batch since the last step
        or a non-finite ``grad_norm``), else 0. Counts it and clears the pending batch flags."""
        if grad_norm is not None:
            device = grad_norm.device
            bad = ~torch.isfinite(grad_norm.detach()).all()
        else:
            bad = torch.zeros((), dtype=torch.bool, device=device)
        if self._pending is not None:
            bad = bad | self._pending.to(bad.device)
        self._pending = None
        found = bad.to(torch.float32)
        self._skipped = found.clone() if self._skipped is None else self._skipped + found.to(self._skipped.device)
        return found

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer, clip: float, scaler: Any,
                              device: torch.device) -> torch.Tensor | None:
        """Lightning's ``on_before_optimizer_step`` (the AMP-unscaled gradients are complete): clips the gradient norm
        to ``clip`` (0: no clipping) and flags a non-finite step, which the optimizer then skips. Returns the
        skipped-steps device counter to log (None under a GradScaler, which finds and skips such steps itself)."""
        with_grad = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        fused = getattr(optimizer, "_step_supports_amp_scaling", False)
        if scaler is not None:  # the GradScaler finds non-finite gradients, skips the step and lowers its scale
            if fused:  # Lightning leaves unscaling to a fused step(); the clipping needs unscaled gradients
                scaler.unscale_(optimizer)
            if clip and with_grad:
                torch.nn.utils.clip_grad_norm_(with_grad, clip, foreach=True)
            self.count_pending()
            return None
        norm = None
        if with_grad:
            # The total norm (which the clipping computes anyway) is non-finite iff some gradient is.
            if clip:
                norm = torch.nn.utils.clip_grad_norm_(with_grad, clip, foreach=True)
            else:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in with_grad])))
        found_inf = self.found_inf(norm, device)
        if fused:
            optimizer.found_inf = found_inf  # the fused kernels skip the whole step (state included) on the device
        elif bool(found_inf):  # optimizers without fused kernels: one host read per step
            for g in optimizer.param_groups:
                for p in g["params"]:
                    p.grad = None  # the optimizer leaves parameters without gradient (and their state) untouched
        return self.skipped_tensor()

    def count_pending(self) -> None:
        """Counts the pending batch flags as one skipped step without other checks (the GradScaler's own skip)."""
        if self._pending is not None:
            self.found_inf(None, self._pending.device)

    @property
    def tracking(self) -> bool:
        return self._tracking

    @property
    def pending(self) -> bool:
        """Whether a bad batch waits for the next optimizer step (reads the device)."""
        return bool(self._pending) if self._pending is not None else False

    @pending.setter
    def pending(self, value: bool) -> None:
        self._pending = torch.tensor(bool(value)) if value else None

    @property
    def skipped(self) -> int:
        """Optimizer steps skipped so far (reads the device)."""
        return self._skipped_host + (int(self._skipped.item()) if self._skipped is not None else 0)

    @skipped.setter
    def skipped(self, value: int) -> None:
        """Restores the count (a checkpoint's), as already reported."""
        self._skipped_host, self._skipped, self._reported = int(value), None, int(value)

    def report_skipped(self, epoch: int) -> None:
        """Warns of the steps skipped since the last report (one host read), naming the 1-based ``epoch``."""
        skipped = self.skipped
        if skipped > self._reported:
            log.warning("epoch %d: %d optimizer step(s) skipped (non-finite loss or gradients), %d in this run",
                        epoch, skipped - self._reported, skipped)
            self._reported = skipped

    def skipped_tensor(self) -> torch.Tensor | None:
        """The device counter (for logging without a host read); None before the first optimizer step."""
        return None if self._skipped is None else self._skipped + self._skipped_host
