"""CPU time per training sample with and without the photometric albumentations step (COCO128, 640 px, one process).

    PYTHONPATH=. YOLO12L_SHARED=/work/shared .venv/bin/python benchmarks/bench_photometric.py [--samples 64]
        [--rounds 3] [--out benchmarks/results/bench_photometric-default.json]

Conditions: ``off`` (the default pipeline), ``light`` (``albumentations_light``: Ultralytics' Blur / MedianBlur /
ToGray / CLAHE at p 0.01), ``clahe_p1`` (a user list, ``CLAHE`` at p 1: every sample pays a transform). The same
samples (seed, epoch, indices) per condition; conditions alternate within each round, the median round is reported
(``time.process_time`` per sample, OpenCV on 1 thread as in a DataLoader worker).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]

from benchmarks.common import result_path, shared_dir, write_json  # noqa: E402

from yolo12l.data.coco import parse_coco  # noqa: E402
from yolo12l.data.dataset import DetectionDataset  # noqa: E402
from yolo12l.data.transforms import AugmentConfig  # noqa: E402

CONDITIONS = {
    "off": AugmentConfig(),
    "light": AugmentConfig(albumentations_light=True),
    "clahe_p1": AugmentConfig(albumentations=[{"name": "CLAHE", "params": {"p": 1.0}}]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--out", default=str(result_path("bench_photometric")))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    root = shared_dir() / "datasets" / "coco128"
    split = parse_coco(root / "annotations" / "instances_train2017.json", root / "images" / "train2017")
    sets = {k: DetectionDataset(split.records, args.imgsz, cfg, seed=0) for k, cfg in CONDITIONS.items()}
    for ds in sets.values():  # warm-up: decode buffer, first-call costs
        for i in range(8):
            ds[i]
    times: dict[str, list[float]] = {k: [] for k in sets}
    n = min(args.samples, len(split.records))
    for _ in range(args.rounds):
        for k, ds in sets.items():
            t0 = time.process_time()
            for i in range(n):
                ds[i]
            times[k].append((time.process_time() - t0) / n * 1e3)
    ms = {k: statistics.median(v) for k, v in times.items()}
    record = {
        "bench": "bench_photometric", "samples": n, "rounds": args.rounds, "imgsz": args.imgsz,
        "cpu": os.uname().machine, "cpu_count": os.cpu_count(),
        "cpu_ms_per_sample": {k: round(v, 2) for k, v in ms.items()},
        "ratio_to_off": {k: round(v / ms["off"], 3) for k, v in ms.items()},
        "rounds_ms": {k: [round(x, 2) for x in v] for k, v in times.items()},
    }
    print(f"{'condition':<10} {'ms/sample':>10} {'x off':>7}")
    for k in ms:
        print(f"{k:<10} {ms[k]:>10.2f} {ms[k] / ms['off']:>7.3f}")
    write_json(record, args.out)


if __name__ == "__main__":
    main()
