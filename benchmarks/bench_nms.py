"""Benchmark postprocess (confidence filter + class-aware greedy NMS) on a YOLO-like eval output (not a test).

Default: one (1, 84, 8400) output for a 640x640 input, nc 80: anchor-grid boxes with background class
probabilities around sigmoid(-7 +- 1.5) plus ~20 objects, each covered by a cluster of anchors with jittered
boxes and high probabilities of one class. At conf 0.001 nearly all 8,400 anchors are candidates.

Wall and thread-CPU milliseconds, for the pure-torch NMS and (when importable) torchvision's.

    python -m benchmarks bench_nms [--batch 1] [--objects 20] [--device cpu] [--threads N]
        [--reps 20] [--out benchmarks/results/bench_nms-default.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from benchmarks.common import micro_options, parse_micro, write_json
from benchmarks.timing import load_average, median, timeit
from yolo12l.ops import postprocess
from yolo12l.ops.nms import torchvision_nms


def make_output(batch: int, objects: int, nc: int = 80, imgsz: int = 640, seed: int = 0) -> torch.Tensor:
    """(batch, 4 + nc, A) eval output: xywh in input pixels + class probabilities."""
    g = torch.Generator().manual_seed(seed)
    grids = []
    for s in (8, 16, 32):
        n = imgsz // s
        yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        cxy = torch.stack(((xx.flatten() + 0.5) * s, (yy.flatten() + 0.5) * s), 0).float()
        grids.append(torch.cat((cxy, torch.full((2, n * n), 4.0 * s)), 0))
    anchors = torch.cat(grids, 1)  # (4, A)
    a = anchors.shape[1]
    out = []
    for _ in range(batch):
        box = anchors.clone()
        box[2:] *= torch.rand(2, a, generator=g) + 0.5
        logits = torch.randn(nc, a, generator=g) * 1.5 - 7.0
        centre = torch.rand(objects, 2, generator=g) * imgsz
        size = torch.rand(objects, 2, generator=g) * 200 + 20
        cls = torch.randint(nc, (objects,), generator=g)
        for c, wh, k in zip(centre, size, cls):
            d = (box[:2] - c[:, None]).norm(dim=0)
            near = d < wh.mean() / 2
            box[:2, near] = c[:, None] + torch.randn(2, int(near.sum()), generator=g) * 3
            box[2:, near] = wh[:, None] + torch.randn(2, int(near.sum()), generator=g) * 3
            logits[k, near] = 3.0 - 8.0 * d[near] / wh.mean()
        out.append(torch.cat((box, logits.sigmoid()), 0))
    return torch.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--objects", type=int, default=20, help="objects per image")
    micro_options(ap, "bench_nms", reps=20, warmup=2)
    args = parse_micro(ap)

    y = make_output(args.batch, args.objects).to(args.device)
    cases = [
        {"conf": 0.001, "iou": 0.7, "agnostic": False},  # validation setting
        {"conf": 0.25, "iou": 0.7, "agnostic": False},  # prediction setting
        {"conf": 0.001, "iou": 0.7, "agnostic": True},
        {"conf": 0.25, "iou": 0.7, "agnostic": True},
    ]
    scores = y[:, 4:].amax(1)
    backends = ["torch"] + (["torchvision"] if torchvision_nms() is not None else [])
    rows = []
    for backend in backends:
        for case in cases:
            fn = lambda: postprocess(y, max_det=300, backend=backend, **case)  # noqa: E731
            for _ in range(args.warmup):
                fn()
            # thread CPU time: what the call costs, whatever the machine's load
            t = timeit(fn, args.reps, args.device, cpu_clock=time.thread_time)
            wall, cpu = t.wall, t.cpu
            dets = fn()
            rows.append({
                **case,
                "backend": backend,
                "candidates_per_image": float((scores > case["conf"]).sum(1).float().mean()),
                "detections_per_image": sum(len(d) for d in dets) / len(dets),
                "median_ms": 1e3 * median(wall),
                "min_ms": 1e3 * min(wall),
                "cpu_median_ms": 1e3 * median(cpu),
            })

    shape = tuple(y.shape)
    load = (load_average() or [float("nan")])[0]
    print(f"postprocess on {shape}, device {args.device}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load average {load:.2f} on {os.cpu_count()} cores")
    print(f"{'backend':>11} {'conf':>6} {'agnostic':>8} {'candidates':>10} {'kept':>6} {'median ms':>10} "
          f"{'min ms':>8} {'cpu ms':>8}")
    for r in rows:
        print(f"{r['backend']:>11} {r['conf']:>6} {r['agnostic']!s:>8} {r['candidates_per_image']:>10.0f} "
              f"{r['detections_per_image']:>6.0f} {r['median_ms']:>10.2f} {r['min_ms']:>8.2f} "
              f"{r['cpu_median_ms']:>8.2f}")
    record = {
        "benchmark": "postprocess",
        "shape": shape,
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": load,
        "reps": args.reps,
        "results": rows,
    }
    write_json(record, args.out)


if __name__ == "__main__":
    main()
