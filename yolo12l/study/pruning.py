"""A Lightning callback that reports each epoch's validation mAP50-95 to an Optuna trial and stops a pruned fit.

``yolo12l tune`` adds it to each trial's config.yaml. Under DDP only global rank 0 talks to Optuna (report,
``should_prune``); its decision is broadcast to every rank, which all set ``trainer.should_stop`` so the ranks
stop together after the same epoch. The pruned epoch is recorded as the trial's user attribute ``pruned_epoch``;
the ``tune`` driver then tells the trial PRUNED.
"""
from __future__ import annotations

from typing import Any

import lightning.pytorch as pl


def make_pruner(kind: str, startup_trials: int = 2, warmup_epochs: int = 1) -> Any:
    """An Optuna pruner: ``median`` (MedianPruner), ``hyperband`` (HyperbandPruner) or ``none``."""
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_epochs))
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {kind!r} (median, hyperband, none)")


class OptunaPruning(pl.Callback):
    """Reports ``monitor`` after every validation of a fit to the Optuna trial ``trial_id`` of ``study_name`` in
    ``storage`` (a journal file path or an RDB URL) and stops the fit when the pruner says so."""

    def __init__(self, storage: str, study_name: str, trial_id: int, pruner: str = "median", startup_trials: int = 2,
                 warmup_epochs: int = 1, monitor: str = "val/mAP50-95"):
        self.storage, self.study_name, self.trial_id, self.monitor = storage, study_name, trial_id, monitor
        self.pruner_args = (pruner, startup_trials, warmup_epochs)
        self._trial: Any = None

    def _get_trial(self) -> Any:
        if self._trial is None:
            import optuna

            from .trials import open_storage

            study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage, None),
                                      pruner=make_pruner(*self.pruner_args))
            self._trial = optuna.Trial(study, self.trial_id)
        return self._trial

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero:
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:
                trial = self._get_trial()
                trial.report(float(value), step=trainer.current_epoch)
                prune = trial.should_prune()
                if prune:
                    trial.set_user_attr("pruned_epoch", trainer.current_epoch)
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            trainer.should_stop = True
