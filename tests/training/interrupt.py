"""A callback that presses Ctrl+C (``--trainer.callbacks+=interrupt.CtrlCAtEpoch``): raises KeyboardInterrupt
when epoch ``epoch`` (0-based) starts, after the previous epoch's checkpoints were written, as a user stopping a
run would."""
from __future__ import annotations

import lightning as L


class CtrlCAtEpoch(L.Callback):
    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt
