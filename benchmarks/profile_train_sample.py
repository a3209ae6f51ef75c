"""CPU time per training sample, per stage, of our train pipeline and of Ultralytics' (main process, COCO128, 640 px).

    python -m benchmarks profile_train_sample [--samples 512] [--cv2-threads 1]
        [--no-ultralytics] [--out benchmarks/results/profile_train_sample-default.json]

(in the Ultralytics venv: the runner switches to ``$YOLO12L_UL_PYTHON``)

Each side's dataset is built as its train loader builds it (ours: ``YoloDataModule`` defaults, 512 MiB decoded-image
buffer; Ultralytics: ``build_yolo_dataset`` with its default hyper-parameters), warmed up for 2 epochs (our buffer /
its mosaic buffer fill), then ``--samples`` samples are drawn in a shuffled order and collated in batches of 16.

* ``cpu_ms_per_sample``: ``time.process_time`` per sample without a profiler (sides alternate, median of rounds);
* ``stages_ms``: the same loop under ``cProfile``, split by the cumulative time of the function that implements each
  stage (profiler overhead inflates the Python-heavy stages; the OpenCV calls are exact). ``other`` is the rest.

OpenCV runs ``--cv2-threads`` threads on both sides (default 1: per-sample CPU time, as in a DataLoader worker,
where both sides set 0).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time
from pathlib import Path

import cv2
import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.throughput import ours_loader, ul_loader, ultralytics_available
from benchmarks.timing import Stopwatch, load_average, median

# stage -> (file suffix, function name) whose cumulative time is the stage; first match wins
OURS_STAGES = {
    "rng (per-sample generators)": [("dataset.py", "_seed_sample")],
    "image fetch (buffer)": [("dataset.py", "load_resized")],
    "mosaic canvas": [("mosaic.py", "mosaic_canvas")],
    "affine matrix": [("affine.py", "random_affine_matrix")],
    "warpAffine": [("affine.py", "warp_image")],
    "box transform + filtering": [("affine.py", "warp_boxes"), ("transforms.py", "filter_boxes"),
                                  ("boxes.py", "filter_boxes"), ("boxes.py", "warp_boxes")],
    "hsv": [("transforms.py", "apply_hsv"), ("hsv.py", "apply_hsv")],
    "flip": [("~", "<built-in method cv2.flip>"), ("~", "<flip>")],
    "HWC->CHW": [("dataset.py", "_to_chw")],
    "meta dict": [("dataset.py", "_meta")],
    "collate": [("collate.py", "collate_detections")],
}
UL_STAGES = {
    "image fetch + label copy (buffer, decode)": [("base.py", "get_image_and_label")],
    "mosaic canvas + labels": [("augment.py", f"{m}@Mosaic") for m in ("apply_image", "apply_instances")]
    + [("augment.py", "_cat_labels@Mosaic"), ("augment.py", "_update_labels@BaseMixTransform")],
    "warpAffine (+ matrix)": [("augment.py", "apply_image@RandomPerspective")],
    "box transform + filtering": [("augment.py", "apply_instances@RandomPerspective")],
    "albumentations (blur/gray/clahe p=0.01)": [("augment.py", "__call__@Albumentations")],
    "hsv": [("augment.py", "apply_image@RandomHSV")],
    "flip": [("augment.py", f"{m}@RandomFlip") for m in ("apply_image", "apply_instances")],
    "format (CHW, tensors)": [("augment.py", f"{m}@Format") for m in ("apply_image", "apply_instances")],
    "collate": [("dataset.py", "collate_fn")],
}


def ours_side(data: Path, imgsz: int, cache: str):
    dl = ours_loader(data, imgsz, 16, 0, cache)
    return dl.dataset, dl.collate_fn


def ul_side(data: Path, imgsz: int, cache: str):
    dl = ul_loader(data, imgsz, 16, 0)
    return dl.dataset, dl.collate_fn


def run(ds, collate, order: list[int]) -> None:
    batch = []
    for i in order:
        batch.append(ds[i])
        if len(batch) == 16:
            collate(batch)
            batch = []


def stage_times(prof: cProfile.Profile, stages: dict, classes: dict[str, str]) -> dict[str, float]:
    """Cumulative seconds per stage; ``name@Class`` picks a method by the class defined at its line (``classes``)."""
    st = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    out = {}
    for stage, keys in stages.items():
        total = 0.0
        for (file, line, name), (_, _, _, ct, _) in st.items():
            for suffix, fn in keys:
                if "@" in fn:
                    fname, cls = fn.split("@")
                    if file.endswith(suffix) and name == fname and classes.get(f"{file}:{line}") == cls:
                        total += ct
                elif suffix == "~" and file == "~" and name == fn:
                    total += ct
                elif file.endswith(suffix) and name == fn:
                    total += ct
        out[stage] = total
    return out


def method_classes(module) -> dict[str, str]:
    """``file:line`` of each method defined in a class of ``module`` -> the class name."""
    import inspect

    res = {}
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            for fn in vars(obj).values():
                if inspect.isfunction(fn):
                    res[f"{inspect.getsourcefile(fn)}:{fn.__code__.co_firstlineno}"] = name
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cv2-threads", type=int, default=1)
    ap.add_argument("--no-ultralytics", action="store_true")
    ap.add_argument("--out", default=str(result_path("profile_train_sample")))
    a = ap.parse_args()
    shared = shared_dir()
    data = Path(a.data) if a.data else shared / "datasets" / "coco128" / "coco128.yaml"
    torch.set_num_threads(1)
    have_ul = ultralytics_available() and not a.no_ultralytics
    cache = tempfile.mkdtemp()
    sides = {"ours": ours_side(data, a.imgsz, cache)}
    classes: dict[str, str] = {}
    if have_ul:
        sides["ultralytics"] = ul_side(data, a.imgsz, cache)
        import ultralytics.data.augment as aug

        classes = method_classes(aug)
    cv2.setNumThreads(a.cv2_threads)  # after Ultralytics' import (which sets 0)
    n = {k: len(ds) for k, (ds, _) in sides.items()}
    rng = random.Random(0)
    for name, (ds, collate) in sides.items():  # warm-up: 2 epochs
        run(ds, collate, [i for _ in range(2) for i in rng.sample(range(n[name]), n[name])])
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    loads = []
    for r in range(a.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            ds, collate = sides[name]
            order = [rng.randrange(n[name]) for _ in range(a.samples)]
            with Stopwatch() as sw:
                run(ds, collate, order)
            cpu[name].append(sw.cpu / a.samples * 1e3)
            loads.append(load_average()[0])
            print(f"round {r} {name:12s} {cpu[name][-1]:6.2f} CPU ms/sample", flush=True)
    record = {"benchmark": "profile_train_sample", "data": str(data), "imgsz": a.imgsz, "samples": a.samples,
              "cv2_threads": a.cv2_threads, "opencv": cv2.__version__, "loadavg_1min": loads, "sides": {}}
    for name, (ds, collate) in sides.items():
        order = [rng.randrange(n[name]) for _ in range(a.samples)]
        prof = cProfile.Profile(time.process_time)
        with Stopwatch() as sw:
            prof.enable()
            run(ds, collate, order)
            prof.disable()
        total = sw.cpu / a.samples * 1e3
        stages = stage_times(prof, OURS_STAGES if name == "ours" else UL_STAGES, classes)
        ms = {k: round(v / a.samples * 1e3, 3) for k, v in stages.items()}
        ms["other"] = round(total - sum(ms.values()), 3)
        record["sides"][name] = {"cpu_ms_per_sample": round(median(cpu[name]), 3), "runs": cpu[name],
                                 "profiled_ms_per_sample": round(total, 3), "stages_ms": ms}
    if have_ul:
        record["ours/ultralytics_cpu_time"] = round(record["sides"]["ours"]["cpu_ms_per_sample"]
                                                    / record["sides"]["ultralytics"]["cpu_ms_per_sample"], 3)
    for name, rec in record["sides"].items():
        print(f"\n{name}: {rec['cpu_ms_per_sample']:.2f} CPU ms/sample (profiled {rec['profiled_ms_per_sample']:.2f})")
        for k, v in rec["stages_ms"].items():
            print(f"  {k:42s} {v:6.2f}")
    if have_ul:
        print(f"\nours/ultralytics CPU time per sample: {record['ours/ultralytics_cpu_time']:.3f}")
    write_json(record, a.out)


if __name__ == "__main__":
    main()
