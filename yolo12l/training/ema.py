"""EMA of the weights on Lightning's ``WeightAveraging`` callback, with the YOLO decay ramp."""
from __future__ import annotations

import math
from typing import Any

import torch
import lightning as L
from lightning.pytorch.callbacks import WeightAveraging


class ModelEMA(WeightAveraging):
    """Exponential moving average with decay ``decay·(1 − exp(−updates/tau))`` (fast early, 0.9999 later).

    Averages parameters and floating-point buffers (BatchNorm statistics) after every optimizer step; Lightning swaps
    the averaged weights in for validation, saves them as the checkpoint's ``state_dict`` (the raw weights go under
    ``current_model_state``) and restores both on resume. The update reads nothing from the device: the number of
    updates is mirrored on the host (``AveragedModel.update_parameters`` reads its device counter three times).
    """

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0, device: str | None = None):
        self.decay = decay
        self.tau = tau
        self._updates: int | None = None  # host mirror of the AveragedModel's n_averaged (None: read it once)
        self._groups: list[tuple[list[torch.Tensor], list[torch.Tensor]]] | None = None
        self._device_copies = False
        super().__init__(device=device, use_buffers=True, multi_avg_fn=self._average)

    def current_decay(self, num_averaged: int) -> float:
        return self.decay * (1 - math.exp(-(num_averaged + 1) / self.tau))

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor],
                 num_averaged: torch.Tensor | int) -> None:
        """In-place EMA update of one (device, dtype) group of tensors; integer buffers are copied."""
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, 1.0 - self.current_decay(int(num_averaged)))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """``WeightAveraging``'s update after each optimizer step, without reading the device."""
        averaged_model = self._average_model
        if averaged_model is None or not (trainer.global_step > self._latest_update_step
                                          and self.should_update(step_idx=trainer.global_step - 1)):
            return
        if self._updates is None:
            self._updates = int(averaged_model.n_averaged)  # once per fit (a resumed run continues the count)
        if self._groups is None or self._device_copies:
            self._groups = self._pair_groups(averaged_model.module, pl_module)
        with torch.no_grad():
            for averaged, current in self._groups:
                if self._updates == 0:
                    torch._foreach_copy_(averaged, current)
                else:
                    self._average(averaged, current, self._updates)
            averaged_model.n_averaged += 1
        self._updates += 1
        self._latest_update_step = trainer.global_step

    def _pair_groups(self, averaged: torch.nn.Module,
                     current: torch.nn.Module) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """(averaged, current) tensor lists per (device, dtype), made once per fit: walking both module trees
        every step would cost more host time than the update (unless the average lives on another device)."""
        groups: dict[tuple, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        ours = [*averaged.parameters(), *averaged.buffers()]
        theirs = [*current.parameters(), *current.buffers()]
        self._device_copies = False
        for a, m in zip(ours, theirs, strict=True):
            pair = groups.setdefault((a.device, a.dtype), ([], []))
            pair[0].append(a.detach())
            self._device_copies |= m.device != a.device
            pair[1].append(m.detach().to(a.device))
        return list(groups.values())

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._updates = self._groups = None

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
        self._updates = self._groups = None

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "decay": self.decay, "tau": self.tau}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.decay = state_dict.get("decay", self.decay)
        self.tau = state_dict.get("tau", self.tau)
