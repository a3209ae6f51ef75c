"""The table of benchmarks and checks that ``python -m benchmarks`` runs, and the dispatch to one of them.

Each entry names its module (``main()`` parses ``sys.argv[1:]``), what it measures in one line, and whether it needs
``ultralytics`` / ``sahi``: ``required`` or ``optional`` (without it only yolo12l's rows). Such a benchmark started
by an interpreter without ultralytics is re-executed under ``$YOLO12L_UL_PYTHON`` (``common.ul_python()``) with
``YOLO_OFFLINE=1``.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from benchmarks.common import reexec_under_ultralytics, usage_error


@dataclass(frozen=True)
class Entry:
    """One runnable benchmark: module path, one-line summary, kind and its need for ultralytics."""

    module: str
    summary: str
    ultralytics: str | None = None  # None, "optional" or "required"

    @property
    def kind(self) -> str:
        return "check" if ".checks." in self.module else "bench"


def _b(name: str, summary: str, ultralytics: str | None = None) -> tuple[str, Entry]:
    return name, Entry(f"benchmarks.{name}", summary, ultralytics)


def _c(name: str, summary: str, ultralytics: str | None = None) -> tuple[str, Entry]:
    return name, Entry(f"benchmarks.checks.{name}", summary, ultralytics)


BENCHMARKS: dict[str, Entry] = dict([
    _b("bench_attention", "time and peak memory of A2 / Halo / DTAB / global attention at growing maps"),
    _b("bench_dataloader", "train-loader images/s (mosaic, 640 px) per worker count on COCO128"),
    _b("bench_inference", "fused forward, postprocess and the predict command vs Ultralytics",
       "optional"),
    _b("bench_loss", "DetectionLoss forward and forward+backward (batch 16, 640 px)"),
    _b("bench_nms", "postprocess (confidence filter + NMS) on a (1, 84, 8400) output"),
    _b("bench_photometric", "per-sample CPU time of the albumentations options (off, light step, CLAHE)"),
    _b("bench_quickstart", "wall time and mAP of the quickstart fit"),
    _b("bench_sliced", "full-image vs sliced prediction on tiny objects; sliced core vs SAHI", "optional"),
    _b("bench_step_guard", "the whole Lightning step of this checkout vs another git revision"),
    _b("bench_tiles", "tile training vs whole-image training of yolo12n on the tiny-objects set, sliced validation"),
    _b("bench_train", "train loader img/s and training step vs Ultralytics", "optional"),
    _b("large_dataset", "generate the cached COCO-sized image set the loader benchmarks use"),
    _b("profile_train_sample", "CPU ms per training sample and per stage, ours vs Ultralytics", "optional"),
    _b("ram_cache_pss", "PSS memory of cache_images=ram under 2-rank DDP vs one process"),
    _b("startup_at_scale", "start-up (parse, image check, cache) on a COCO-scale annotation file"),
    _b("step_breakdown", "where a yolo12s training step's time goes, ours vs Ultralytics", "required"),
    _c("compare_ultralytics", "side-by-side training vs Ultralytics on synthetic shapes, one evaluator"),
    _c("heldout_pycocotools", "validate's COCO numbers vs pycocotools (crowd regions, segment areas)"),
    _c("paper_parity_sensitivity", "how strongly the paper-repo parity files constrain the implementation"),
    _c("precision_detections", "detections under bf16 autocast and float16 against float32"),
    _c("rect_vs_square", "mAP of rect validation vs square letterbox, same weights"),
    _c("ultralytics_val_compare", "our validation vs Ultralytics' val, real shapes checkpoint", "required"),
])


def listing() -> str:
    """One line per benchmark: name, kind, ultralytics need, summary."""
    width = max(map(len, BENCHMARKS))
    rows = []
    for name, e in BENCHMARKS.items():
        need = f"[{e.ultralytics} ultralytics] " if e.ultralytics else ""
        rows.append(f"{name:<{width}}  {e.kind:<5}  {need}{e.summary}")
    return "\n".join(rows)


def run(name: str, args: list[str]) -> None:
    """Runs benchmark ``name`` with command-line ``args`` (its own argparse reads them)."""
    if name not in BENCHMARKS:
        raise usage_error(f"unknown benchmark {name!r}; `python -m benchmarks --list` shows them")
    entry = BENCHMARKS[name]
    if entry.ultralytics and not {"-h", "--help", "--no-ultralytics"} & set(args):  # our rows alone: our venv
        reexec_under_ultralytics(name, args, required=entry.ultralytics == "required")
    module = importlib.import_module(entry.module)
    sys.argv = [f"python -m benchmarks {name}", *args]
    module.main()


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks --list`` | ``python -m benchmarks <name> [args]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks --list | <name> [--help | args]   (from the repository root; "
              "docs/benchmarks.md)\n")
        print(listing())
        return
    if argv[0] == "--list":
        print(listing())
        return
    run(argv[0], argv[1:])
