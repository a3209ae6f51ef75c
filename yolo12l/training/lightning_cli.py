"""The LightningCLI behind ``yolo12l fit|validate|test|predict --config …`` (imported only for those commands)."""
from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import LightningCLI

from ..interop.checkpoint import check_lightning_checkpoint
from ..config_checks import check_run_config
from ..data.records import NoUsableDataError
from .config import check_moved_keys, group_flat_keys
from .module import YOLODetector
from .progress import YOLOProgressBar, default_loggers
from .run_folder import find_last_checkpoint, run_version

log = logging.getLogger("yolo12l.training")

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

# Model arguments that only steer evaluation / prediction: taken from this command, never from ``--ckpt_path``.
EVAL_ARGUMENTS = ("evaluation", "summary_imgsz", "slicing")


class YOLOCLI(LightningCLI):
    """LightningCLI with the DataModule's classes linked into the model, loggers under the run's
    ``default_root_dir`` and the yolo12l progress display (:class:`~yolo12l.training.progress.YOLOProgressBar`).

    With ``--ckpt_path`` LightningCLI replaces the model's arguments by the checkpoint's hyper-parameters (so the
    network matches the weights), which would silently ignore e.g. ``predict --model.evaluation.predict_conf 0.5``;
    the :data:`EVAL_ARGUMENTS` keep the values of this command's config and command line. A checkpoint written before
    the arguments were grouped (flat ``lr0``, ``conf_thres`` … in its ``hyper_parameters``) is read the same way.
    """

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
        parser.link_arguments("data.label_to_category_id", "model.label_to_category_id", apply_on="instantiate")

    def _model_config(self) -> Any:
        sub = self.config.get("subcommand")
        return self.config[sub]["model"] if sub else self.config.get("model")

    def parse_arguments(self, parser: Any, args: Any) -> None:
        super().parse_arguments(parser, args)
        model = self._model_config()
        self._eval_arguments = {k: model[k] for k in EVAL_ARGUMENTS if model is not None and k in model}
        self._resolve_last()

    def _resolve_last(self) -> None:
        """``--ckpt_path last`` → the newest ``<default_root_dir>/logs/version_*/checkpoints/last.ckpt`` (Lightning
        would look in the new run's empty folder); none yet: a warning, and the fit starts from scratch."""
        cfg = self._run_config()
        if cfg.get("ckpt_path") != "last" or cfg["trainer"].get("logger") not in (None, True):
            return
        root = cfg["trainer"].get("default_root_dir") or os.getcwd()
        last = find_last_checkpoint(root)
        if last is None:
            log.warning("--ckpt_path last: no %s/logs/version_*/checkpoints/last.ckpt yet: starting from scratch",
                        root)
            cfg["ckpt_path"] = None
        else:
            log.info("--ckpt_path last: resuming from %s", last)
            cfg["ckpt_path"] = str(last)

    def before_fit(self) -> None:
        """A training split without a single box stops here, before the Trainer starts."""
        self.datamodule.require_training_boxes()

    def before_test(self) -> None:
        """``test`` evaluates the test split only: without one it stops here, before any evaluation."""
        if self.datamodule.split("test") is None:
            raise NoUsableDataError(self.datamodule.no_test_split_message())

    def _run_config(self) -> Any:
        sub = self.config.get("subcommand")
        return self.config[sub] if sub else self.config

    def _parse_ckpt_path(self) -> None:
        """LightningCLI's: the checkpoint's hyper-parameters replace the model's arguments; flat ones of older
        checkpoints are grouped first (:func:`~yolo12l.training.config.group_flat_keys`)."""
        sub = self.config.get("subcommand")
        ckpt_path = self.config[sub].get("ckpt_path") if sub else None
        if not ckpt_path:
            return
        check_lightning_checkpoint(ckpt_path)  # an Ultralytics .pt here is a mistake for --model.weights: say so
        if not Path(ckpt_path).is_file():  # "last", "best": Lightning's names
            return
        ckpt = torch.load(ckpt_path, weights_only=True, map_location="cpu", mmap=True)
        hparams = {k: v for k, v in group_flat_keys(ckpt.get("hyper_parameters") or {}).items()
                   if k != "_instantiator"}
        if hparams:
            self.config = self.parser.parse_object({sub: {"model": hparams}}, self.config)

    def before_instantiate_classes(self) -> None:
        model = self._model_config()
        for key, value in getattr(self, "_eval_arguments", {}).items():
            model[key] = value
        check_run_config(self._run_config())  # every value's range, before any model or data is built

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Any:
        if config.get("logger") in (None, True):  # no logger configured: ours, under default_root_dir
            root = config.get("default_root_dir") or os.getcwd()
            cfg = self._run_config()
            # a fit resumed from <root>/logs/version_N/checkpoints/… continues in version_N
            version = run_version(cfg.get("ckpt_path"), root) if self.config.get("subcommand") == "fit" else None
            config["logger"] = default_loggers(root, version=version)
            if version is not None:  # the run continues in its own folder, whose checkpoints are expected there
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        given = list(config.get("callbacks") or []) + list(callbacks)
        if config.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar)
                                                                             for c in given):
            callbacks = [*callbacks, YOLOProgressBar()]
        return super()._instantiate_trainer(config, callbacks)


def lightning_main(args: list[str] | None = None, run: bool = True) -> YOLOCLI:
    """The LightningCLI over :class:`~yolo12l.training.YOLODetector` and the yolo12l DataModules.

    Parse errors raise (``exit_on_error=False``) so that the ``yolo12l`` command prints them as one line. The
    sliced-inference options (``--slice S --overlap …``, :mod:`yolo12l.inference.slice_options`) stand for
    ``--model.slicing.*``.
    """
    from ..data import DetectionDataModule
    from ..inference.slice_options import lightning_slice_argv

    args = list(sys.argv[1:] if args is None else args)
    if args and not args[0].startswith("-"):
        args = [args[0], *lightning_slice_argv(args[1:])]
    check_moved_keys(args)  # --model.lr0 (grouped since): one line naming the new key, before anything is built
    parser_kwargs = {"exit_on_error": False, **{c: {"exit_on_error": False} for c in LIGHTNING_COMMANDS}}
    argv0, sys.argv = sys.argv, [sys.argv[0] if sys.argv else "yolo12l", *args]
    try:  # parsed from sys.argv (``args=`` would make LightningCLI warn that both are given)
        return YOLOCLI(YOLODetector, DetectionDataModule, subclass_mode_data=True, run=run,
                       save_config_kwargs={"overwrite": True}, parser_kwargs=parser_kwargs)
    finally:
        sys.argv = argv0
