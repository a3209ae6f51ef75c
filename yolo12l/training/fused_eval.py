"""The fused copy of the network that evaluation-only runs use, as a Lightning callback.

Validate / test / predict outside ``fit`` run a fused copy (BatchNorm folded into the convolutions, channels-last):
the same outputs up to float rounding, faster. Inside ``fit`` the network itself is evaluated (the EMA callback
swaps its weights in for validation), and checkpoints stay unfused. The copy lives in ``pl_module.fused_net`` from
the stage's start to its end (None otherwise), where :meth:`~yolo12l.training.YOLODetector.detect` takes it.
"""
from __future__ import annotations

import copy
from typing import Any

import lightning as L


class FusedEvaluation(L.Callback):
    """Sets ``pl_module.fused_net`` to a fused copy of ``pl_module.net`` for evaluation outside ``fit``."""

    @staticmethod
    def _start(trainer: L.Trainer, pl_module: Any) -> None:
        pl_module.fused_net = copy.deepcopy(pl_module.net).fuse() if trainer.state.fn != "fit" else None

    @staticmethod
    def _end(trainer: L.Trainer, pl_module: Any) -> None:
        pl_module.fused_net = None

    on_validation_start = on_test_start = on_predict_start = _start
    on_validation_end = on_test_end = on_predict_end = _end


__all__ = ["FusedEvaluation"]
