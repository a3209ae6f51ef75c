"""Train-loader throughput (images/second) on COCO128, mosaic on, per DataLoader worker count.

    python -m benchmarks bench_dataloader [--imgsz 640] [--workers 0 1 2] [--batches 20] [--out FILE]

Counts images of full batches after one warm-up batch (workers started, page cache warm). Prints a table
and writes JSON (default ``benchmarks/results/bench_dataloader-default.json``)
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import Stopwatch
from yolo12l.data import CocoDataModule


def bench(dm: CocoDataModule, batches: int) -> dict:
    loader = dm.train_dataloader()
    it = iter(loader)
    next(it)  # warm-up: worker start, first decode
    n, sw = 0, Stopwatch().start()
    for _ in range(batches):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        n += b["images"].shape[0]
    dt, _ = sw.stop()
    return {"images": n, "seconds": round(dt, 3), "images_per_s": round(n / dt, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(shared_dir() / "datasets" / "coco128"),
                    help="COCO128 folder (annotations/, images/; default $YOLO12L_SHARED/datasets/coco128)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--mixup", type=float, default=0.0)
    ap.add_argument("--out", default=str(result_path("bench_dataloader")))
    a = ap.parse_args()
    root = Path(a.data)
    results = []
    torch.set_num_threads(1)  # augmentation runs in numpy/OpenCV; keep torch from oversubscribing
    with tempfile.TemporaryDirectory() as cache:
        for w in a.workers:
            dm = CocoDataModule(root / "annotations" / "instances_train2017.json", root / "images" / "train2017",
                                imgsz=a.imgsz, batch_size=a.batch_size, num_workers=w, persistent_workers=w > 0,
                                pin_memory=False, mosaic=1.0, mixup=a.mixup, cache_dir=cache)
            dm.setup("fit")
            r = {"workers": w, **bench(dm, a.batches)}
            results.append(r)
            print(f"workers={w:2d}  {r['images_per_s']:8.1f} img/s  ({r['images']} images in {r['seconds']} s)",
                  flush=True)
    out = {"benchmark": "train dataloader, COCO128 train2017, mosaic on", "imgsz": a.imgsz,
           "batch_size": a.batch_size, "mixup": a.mixup, "cpu_count": os.cpu_count(),
           "python": platform.python_version(), "torch": torch.__version__, "results": results}
    write_json(out, a.out)


if __name__ == "__main__":
    main()
