"""Console entry point ``yolo12l``.

* ``yolo12l fit|validate|test|predict --config configs/….yaml`` — the LightningCLI (same as ``python train.py``).
* ``yolo12l predict --weights W --source S`` — stand-alone prediction from a checkpoint or an Ultralytics ``.pt``.
* ``yolo12l export --weights W --format onnx`` — ONNX export.
* ``yolo12l check-data --format coco|voc|yolo …`` — dataset check without training.
"""
from __future__ import annotations

import sys
from typing import Any

# Lightning is imported only for the Lightning commands: ``yolo12l predict --weights``, ``export`` and ``check-data``
# start without it.
_LIGHTNING_NAMES = ("EVAL_ARGUMENTS", "YOLOCLI", "lightning_main")


def __getattr__(name: str) -> Any:
    if name in _LIGHTNING_NAMES:
        from .training import lightning_cli

        return getattr(lightning_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from .training.lightning_cli import lightning_main

    lightning_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
