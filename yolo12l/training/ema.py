"""EMA of the weights on Lightning's ``WeightAveraging`` callback, with the YOLO decay ramp."""
from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch.callbacks import WeightAveraging


class ModelEMA(WeightAveraging):
    """Exponential moving average with decay ``decay·(1 − exp(−updates/tau))`` (fast early, 0.9999 later).

    Averages parameters and floating-point buffers (BatchNorm statistics) after every optimizer step; Lightning swaps
    the averaged weights in for validation, saves them as the checkpoint's ``state_dict`` (the raw weights go under
    ``current_model_state``) and restores both on resume.
    """

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0, device: str | None = None):
        self.decay = decay
        self.tau = tau
        super().__init__(device=device, use_buffers=True, multi_avg_fn=self._average)

    def current_decay(self, num_averaged: int) -> float:
        return self.decay * (1 - math.exp(-(num_averaged + 1) / self.tau))

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor],
                 num_averaged: torch.Tensor) -> None:
        """In-place EMA update of one (device, dtype) group of tensors; integer buffers are copied."""
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, 1.0 - self.current_decay(int(num_averaged)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "decay": self.decay, "tau": self.tau}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.decay = state_dict.get("decay", self.decay)
        self.tau = state_dict.get("tau", self.tau)
