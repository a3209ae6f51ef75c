"""Console entry point ``yolo12l``: one command line for training, evaluation, prediction, export and checks.

* ``yolo12l fit|validate|test|predict --config configs/….yaml`` — the LightningCLI (same as ``python train.py``).
* ``yolo12l predict --weights W --source S`` — stand-alone prediction from any weights file (images, videos).
* ``yolo12l export --weights W --format onnx`` — ONNX export.
* ``yolo12l check-data --format coco|voc|yolo …`` — dataset check without training.
* ``yolo12l optimize-data --config C --split train --out DIR`` — LitData shards for ``StreamingDataModule``.
* ``yolo12l info --model yolo12s.yaml`` — layers, parameters and GFLOPs.

A mistake in the user's input (a missing file, an unknown model or block name, a bad config value, an unusable
dataset) is printed as one line, ``yolo12l <command>: error: …``, with exit status 2; ``--debug`` or
``YOLO12L_DEBUG=1`` shows the traceback. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import import_module
from collections.abc import Callable

# (command, one-line help, "module:function" taking argv and returning the exit status)
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("train a model (LightningCLI: --config …yaml, --trainer.*, --model.*, --data.*)", "yolo12l.cli:_lightning"),
    "validate": ("evaluate a checkpoint on the validation split (--ckpt_path, COCO mAP)", "yolo12l.cli:_lightning"),
    "test": ("evaluate a checkpoint on the test split", "yolo12l.cli:_lightning"),
    "predict": ("detect objects: --weights W --source S (any checkpoint), or a config with --ckpt_path",
                "yolo12l.cli:_predict"),
    "export": ("export a .ckpt or an Ultralytics .pt to ONNX (optionally with NMS)", "yolo12l.export.cli:main"),
    "check-data": ("check a COCO / VOC / YOLO-txt dataset split without training", "yolo12l.data.check:main"),
    "optimize-data": ("write a split of a config's DataModule as LitData streaming shards",
                      "yolo12l.data.optimize:main"),
    "info": ("layers, parameters and GFLOPs of a model YAML or checkpoint", "yolo12l.info:main"),
    "compare": ("train variants x seeds of a study YAML: mean ± std, paired test, size, latency, plots",
                "yolo12l.study.compare:main"),
    "tune": ("search hyper-parameters with Optuna (TPE / NSGA-II, pruning); writes out/best.yaml",
             "yolo12l.study.tune:main"),
    "benchmark": ("inference latency of a model with its protocol (fused, warm-up, median / p95)",
                  "yolo12l.study.latency:main"),
}
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")  # the LightningCLI (imported only for these)


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: yolo12l <command> [options]   (yolo12l <command> --help for its options)", "",
             "YOLO12 in PyTorch Lightning: train, evaluate, predict, export.", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items()]
    lines += ["", "options:", "  --debug      show the traceback of errors (also: YOLO12L_DEBUG=1)",
              "  --version    print the version and exit"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- user errors
def find_user_error(exc: BaseException) -> BaseException | None:
    """The user mistake behind ``exc`` (itself or one in its ``__cause__`` / ``__context__`` chain), if any."""
    from .errors import UserError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (UserError, argparse.ArgumentError)):
            return e
        if isinstance(e, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
            return e
        e = e.__cause__ or e.__context__
    return None


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (nested jsonargparse messages joined with '; ')."""
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in str(exc.strerror or ""):
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc)
    parts = [re.sub(r"^-+\s+", "", p.strip()) for p in text.splitlines()]  # jsonargparse's "- " bullets, not "--x"
    if isinstance(exc, argparse.ArgumentError):  # jsonargparse: drop the Union bookkeeping around the real reason
        parts = [p for p in parts if not p.startswith(_JSONARGPARSE_NOISE)]
        parts = [p.replace("Expected a <class '", "expected ").replace("'>", "") for p in parts]
    return "; ".join(p.rstrip(":") for p in parts if p) or type(exc).__name__


_JSONARGPARSE_NOISE = ("Does not validate against any of the Union subtypes", "Subtypes:", "Errors:",
                       "Given value type:", "Expected a <class 'NoneType'>")


def debug_enabled() -> bool:
    return os.environ.get("YOLO12L_DEBUG", "").lower() not in ("", "0", "false", "no")


def run_command(command: str, func: Callable[[], int | None], debug: bool = False) -> int:
    """Runs ``func``; a user mistake becomes one line on stderr and exit status 2."""
    try:
        return int(func() or 0)
    except SystemExit as exc:  # argparse / jsonargparse --help and their own usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print(f"yolo12l {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        user = None if debug else find_user_error(exc)
        if user is None:
            raise
        print(f"yolo12l {command}: error: {one_line(user)}", file=sys.stderr)
        return 2


def _lightning(argv: list[str]) -> int:
    from .console_log import enable_console_logging
    from .training.quiet import quiet_third_party

    quiet_third_party(argv[0] if argv else "fit")
    enable_console_logging()
    from .training.lightning_cli import lightning_main

    lightning_main(argv)
    return 0


def _predict(argv: list[str]) -> int:
    """``predict --weights/--source`` is the stand-alone predictor, ``predict --config …`` the Lightning one;
    ``predict`` alone or ``predict --help`` explain both forms."""
    from .inference.cli import USAGE, build_parser
    from .inference.cli import main as predict_main

    rest = argv[1:]
    if any(a.split("=")[0] in ("--weights", "--source") for a in rest):
        return predict_main(rest)
    if not rest:
        print(USAGE, file=sys.stderr, end="")
        print("yolo12l predict: error: give --weights and --source, or --config (and --ckpt_path)",
              file=sys.stderr)
        return 2
    if rest in (["-h"], ["--help"]):
        build_parser().print_help()
        return 0
    return _lightning(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled() or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = argv[0] if argv else ""
    if command in ("-h", "--help", "help", ""):
        print(usage(), file=sys.stdout if command else sys.stderr)
        return 0 if command else 2
    if command == "--version":
        from . import __version__

        print(f"yolo12l {__version__}")
        return 0
    if command not in COMMANDS:
        print(f"yolo12l: error: unknown command {command!r} (one of: {', '.join(COMMANDS)}; yolo12l --help)",
              file=sys.stderr)
        return 2
    module, func = COMMANDS[command][1].split(":")
    target = getattr(import_module(module), func)
    call = (lambda: target(argv)) if command in LIGHTNING_COMMANDS else (lambda: target(argv[1:]))
    return run_command(command, call, debug)


if __name__ == "__main__":
    sys.exit(main())
