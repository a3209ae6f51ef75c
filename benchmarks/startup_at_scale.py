"""Start-up on a COCO-scale annotation file: parse + image check + annotation cache, then a second start from the
cache — wall time and peak memory of each, in fresh processes — table + JSON.

    python -m benchmarks startup_at_scale [--images 120000] [--boxes 900000]

The set is generated once under ``~/.cache/yolo12l/startup_<images>/``: tiny 64x48 JPEGs (all the same bytes; the
header check reads each file) and ``instances.json`` with ``--boxes`` boxes spread over the images. Each start is
``CocoDataModule(...).split("train")`` in a new process with an empty (first) or filled (second) annotation cache:
wall and CPU seconds (imports included; CPU time is the figure to trust on a loaded machine), peak memory is that
process's ``ru_maxrss``; ``log_lines``: what the start printed (the JSON read's before / after lines, the progress of
the annotations and of the image and box checks). Output: ``benchmarks/results/startup_at_scale-default.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import child_env, module_command, result_path, write_json
from benchmarks.timing import Stopwatch, load_average


def generate(n: int, boxes: int) -> Path:
    root = Path(os.environ.get("YOLO12L_BENCH_CACHE", Path.home() / ".cache" / "yolo12l")) / f"startup_{n}_{boxes}"
    ann = root / "instances.json"
    if (root / "done").is_file():
        return root
    import cv2

    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    data = buf.tobytes()
    for i in range(n):
        (img_dir / f"{i:07d}.jpg").write_bytes(data)
    rng = np.random.default_rng(0)
    owner = rng.integers(0, n, boxes)
    xy = rng.uniform(0, 40, (boxes, 2))
    wh = rng.uniform(4, 20, (boxes, 2))
    cats = rng.integers(1, 81, boxes)
    images = [{"id": i + 1, "file_name": f"{i:07d}.jpg", "width": 64, "height": 48} for i in range(n)]
    anns = [{"id": k + 1, "image_id": int(owner[k]) + 1, "category_id": int(cats[k]), "iscrowd": 0,
             "bbox": [round(float(xy[k, 0]), 2), round(float(xy[k, 1]), 2),
                      round(float(min(wh[k, 0], 64 - xy[k, 0])), 2), round(float(min(wh[k, 1], 48 - xy[k, 1])), 2)],
             "area": float(wh[k, 0] * wh[k, 1])}
            for k in range(boxes)]
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 81)]}))
    (root / "done").write_text("ok\n")
    return root


def start(root: str, cache: str) -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from yolo12l.data import CocoDataModule

    with Stopwatch() as sw:
        dm = CocoDataModule(Path(root) / "instances.json", Path(root) / "images", cache_dir=cache)
        split = dm.split("train")
    dt = sw.wall
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": round(dt, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
                      "images": split.report.num_images, "boxes": split.report.num_boxes,
                      "peak_rss_mb": round(ru.ru_maxrss / 1024, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=120_000)
    ap.add_argument("--boxes", type=int, default=900_000)
    ap.add_argument("--out", default=str(result_path("startup_at_scale")))
    ap.add_argument("--start", nargs=2, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.start:
        return start(*a.start)
    with Stopwatch() as sw:
        root = generate(a.images, a.boxes)
    gen_s = sw.wall
    runs = {}
    with tempfile.TemporaryDirectory() as cache:
        for name in ("first start (parse, check, cache)", "second start (cache)"):
            p = subprocess.run([*module_command("benchmarks.startup_at_scale"), "--start", str(root), cache],
                               capture_output=True, text=True, env=child_env(), timeout=1800)
            if p.returncode:
                sys.exit(p.stderr[-3000:])
            runs[name] = json.loads(p.stdout.strip().splitlines()[-1])
            runs[name]["log_lines"] = [line for line in p.stderr.splitlines() if line.strip()][-40:]  # what a user sees
            r = runs[name]
            print(f"{name:36s} {r['seconds']:7.1f} s ({r['cpu_s']:.1f} CPU-s)  peak RSS {r['peak_rss_mb']:7.0f} MB  "
                  f"{r['images']} images, {r['boxes']} boxes", flush=True)
    rec = {"benchmark": "startup_at_scale", "images": a.images, "boxes": a.boxes, "generate_s": round(gen_s, 1),
           "runs": runs, "cpu_count": os.cpu_count(), "loadavg": load_average()}
    write_json(rec, a.out)


if __name__ == "__main__":
    main()
