"""The LightningCLI behind ``yolo12l fit|validate|test|predict --config …`` (imported only for those commands)."""
from __future__ import annotations

from typing import Any

from lightning.pytorch.cli import LightningCLI

from .module import YOLODetector


# Model arguments that only steer evaluation / prediction: taken from this command, never from ``--ckpt_path``.
EVAL_ARGUMENTS = ("conf_thres", "iou_thres", "max_det", "map_backend", "predict_conf", "save_plots")


class YOLOCLI(LightningCLI):
    """LightningCLI with the DataModule's classes linked into the model.

    With ``--ckpt_path`` LightningCLI replaces the model's arguments by the checkpoint's hyper-parameters (so the
    network matches the weights), which would silently ignore e.g. ``predict --model.predict_conf 0.5``; the
    :data:`EVAL_ARGUMENTS` keep the values of this command's config and command line.
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

    def before_instantiate_classes(self) -> None:
        model = self._model_config()
        for key, value in getattr(self, "_eval_arguments", {}).items():
            model[key] = value


def lightning_main(args: list[str] | None = None) -> YOLOCLI:
    from ..data import DetectionDataModule

    return YOLOCLI(
        YOLODetector,
        DetectionDataModule,
        subclass_mode_data=True,
        args=args,
        save_config_kwargs={"overwrite": True},
    )
