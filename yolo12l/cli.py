"""Console entry point ``yolo12l``.

* ``yolo12l fit|validate|test|predict --config configs/….yaml`` — the LightningCLI (same as ``python train.py``).
* ``yolo12l predict --weights W --source S`` — stand-alone prediction from a checkpoint or an Ultralytics ``.pt``.
* ``yolo12l export --weights W --format onnx`` — ONNX export.
* ``yolo12l check-data --format coco|voc|yolo …`` — dataset check without training.
"""
from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.cli import LightningCLI

from .training.module import YOLODetector


class YOLOCLI(LightningCLI):
    """LightningCLI with the DataModule's classes linked into the model."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
        parser.link_arguments("data.label_to_category_id", "model.label_to_category_id", apply_on="instantiate")


def lightning_main(args: list[str] | None = None) -> YOLOCLI:
    from .data import DetectionDataModule

    return YOLOCLI(
        YOLODetector,
        DetectionDataModule,
        subclass_mode_data=True,
        args=args,
        save_config_kwargs={"overwrite": True},
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    if command == "check-data":
        from .data.check import main as check_main

        return check_main(argv[1:])
    if command == "export":
        from .export import main as export_main

        return export_main(argv[1:])
    if command == "predict" and any(a.split("=")[0] in ("--weights", "--source") for a in argv[1:]):
        from .predict import main as predict_main

        return predict_main(argv[1:])
    lightning_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
