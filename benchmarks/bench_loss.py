"""Benchmark DetectionLoss forward and forward+backward (not a test).

Default: batch 16 at 640x640 (8,400 anchors), ~100 boxes per image, nc 80, on CPU.

    python -m benchmarks bench_loss [--batch 16] [--imgsz 640] [--boxes 100] [--device cpu]
        [--threads N] [--reps 5] [--out benchmarks/results/bench_loss-default.json]
"""
from __future__ import annotations

import argparse
import platform

import torch

from benchmarks.common import micro_options, parse_micro, write_json
from benchmarks.timing import median, timeit
from yolo12l.losses import DetectionLoss


def make_inputs(bs: int, imgsz: int, boxes: int, nc: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = []
    for s in (8, 16, 32):
        f = torch.randn(bs, 64 + nc, imgsz // s, imgsz // s, generator=g)
        f[:, 64:] -= 4.0  # class logits of a roughly calibrated head (sigmoid ~ 2 %)
        feats.append(f.to(device))
    n = bs * boxes
    wh = 0.02 + 0.3 * torch.rand(n, 2, generator=g)
    xy = wh / 2 + (1 - wh) * torch.rand(n, 2, generator=g)
    batch = {
        "batch_idx": torch.arange(bs).repeat_interleave(boxes).float().to(device),
        "cls": torch.randint(nc, (n, 1), generator=g).float().to(device),
        "bboxes": torch.cat((xy, wh), 1).to(device),
    }
    return feats, batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--boxes", type=int, default=100, help="boxes per image")
    ap.add_argument("--nc", type=int, default=80)
    micro_options(ap, "bench_loss", reps=5, warmup=1)
    args = parse_micro(ap)

    feats, batch = make_inputs(args.batch, args.imgsz, args.boxes, args.nc, args.device)
    loss = DetectionLoss(nc=args.nc)
    anchors = sum(f.shape[2] * f.shape[3] for f in feats)

    def fwd():
        with torch.no_grad():
            loss(feats, batch)

    leaf = [f.clone().requires_grad_() for f in feats]

    def fwd_bwd():
        for f in leaf:
            f.grad = None
        total, _ = loss(leaf, batch)
        total.backward()

    _, items = loss(feats, batch)
    results = {}
    for name, fn in (("forward", fwd), ("forward+backward", fwd_bwd)):
        timeit(fn, args.warmup, args.device)
        t = timeit(fn, args.reps, args.device).wall
        results[name] = {"median_ms": 1e3 * median(t), "min_ms": 1e3 * min(t), "reps": args.reps}

    print(f"DetectionLoss  batch {args.batch}  {args.imgsz}x{args.imgsz}  anchors {anchors}  "
          f"boxes/img {args.boxes}  nc {args.nc}  device {args.device}  threads {torch.get_num_threads()}")
    print(f"{'pass':<18}{'median ms':>12}{'min ms':>10}")
    for name, r in results.items():
        print(f"{name:<18}{r['median_ms']:>12.1f}{r['min_ms']:>10.1f}")
    print("loss items [box, cls, dfl]:", [round(v, 4) for v in items.tolist()])

    record = {
        "benchmark": "DetectionLoss",
        "batch": args.batch,
        "imgsz": args.imgsz,
        "anchors": anchors,
        "boxes_per_image": args.boxes,
        "nc": args.nc,
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "results": results,
        "loss_items": items.tolist(),
    }
    write_json(record, args.out)


if __name__ == "__main__":
    main()
