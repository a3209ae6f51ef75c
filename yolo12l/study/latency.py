"""``yolo12l benchmark``: inference latency of a model with its measurement protocol written next to the numbers.

    yolo12l benchmark --model yolo12n.yaml --imgsz 640                 # a YAML (random weights) or a .ckpt / .pt
    yolo12l benchmark --model runs/…/last.ckpt --batch 1 16 --runs 50 --json latency.json

Protocol: the network is fused as ``predict`` runs it (:meth:`DetectionNetwork.fuse`: BatchNorm folded, channels
last), in ``torch.inference_mode``; per batch size, ``warmup`` untimed calls, then ``runs`` timed calls (wall clock,
``torch.cuda.synchronize`` around each on a GPU); reported: median, p95 (nearest rank), mean +- sample std in ms
per call (the whole batch). *forward*: the network on a float (B, 3, S, S) input. *end to end*: a uint8 batch on
the device -> float / 255 -> network -> NMS (:func:`yolo12l.ops.postprocess`, ``conf``, IoU 0.7, max 300) — image
decoding and letterboxing are not included. The input is uniform noise (seed 0). ``--half`` (fp16) and
``--cuda-graphs`` (``torch.compile(mode="reduce-overhead")``) apply on CUDA only. Device, torch version and
threads are recorded.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


def summarize(times_ms: list[float]) -> dict[str, float]:
    """median / p95 (nearest rank) / mean / sample std / min of per-call times in ms."""
    s = sorted(times_ms)
    n = len(s)
    mean = sum(s) / n
    std = math.sqrt(sum((t - mean) ** 2 for t in s) / (n - 1)) if n > 1 else 0.0
    median = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    p95 = s[min(n - 1, max(0, math.ceil(0.95 * n) - 1))]
    return {"median_ms": median, "p95_ms": p95, "mean_ms": mean, "std_ms": std, "min_ms": s[0], "runs": n}


def time_calls(fn: Callable[[], Any], warmup: int, runs: int, device: torch.device) -> list[float]:
    """Wall-clock ms of ``runs`` calls of ``fn`` after ``warmup`` untimed ones (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the platform's machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_network(model: str, nc: int | None = None) -> nn.Module:
    """A network from a model YAML (random weights; ``nc`` classes) or a weights file (.ckpt / .pt)."""
    if model.endswith((".ckpt", ".pt", ".pth")):
        from ..predict import load_for_prediction

        return load_for_prediction(model)[0]
    from ..models import build_model

    return build_model(model, nc=nc)


def benchmark(net: nn.Module, imgsz: int = 640, batches: tuple[int, ...] = (1,), warmup: int = 5, runs: int = 30,
              device: str = "cpu", half: bool = False, cuda_graphs: bool = False, conf: float = 0.25,
              end_to_end: bool = True) -> dict[str, Any]:
    """Latency of ``net`` (fused in place) under the module's protocol: ``{"protocol": …, "results": {"batch<B>":
    {"forward": stats, "end_to_end": stats}}}`` with stats from :func:`summarize`."""
    from ..ops import postprocess

    dev = torch.device(device)
    on_cuda = dev.type == "cuda"
    net = net.fuse().to(dev)
    dtype = torch.float16 if half and on_cuda else torch.float32
    net = net.to(dtype)
    run_net: Callable = torch.compile(net, mode="reduce-overhead") if cuda_graphs and on_cuda else net
    protocol = {
        "fused": True, "imgsz": imgsz, "batches": list(batches), "warmup": warmup, "runs": runs,
        "device": torch.cuda.get_device_name(dev) if on_cuda else f"cpu ({cpu_name()})",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "dtype": str(dtype).replace("torch.", ""),
        "cuda_graphs": bool(cuda_graphs and on_cuda), "input": "uniform noise, seed 0",
        "end_to_end": f"uint8 batch -> /255 -> network -> NMS (conf {conf}, iou 0.7, max_det 300); no decoding or "
                      "letterbox", "timer": "time.perf_counter per call" + (", cuda synchronize" if on_cuda else ""),
    }
    if (half or cuda_graphs) and not on_cuda:
        protocol["note"] = "--half / --cuda-graphs apply on CUDA only: ignored"
    results = {}
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for b in batches:
            u8 = torch.randint(0, 256, (b, 3, imgsz, imgsz), generator=gen, dtype=torch.uint8).to(dev)
            x = (u8.float() / 255).to(dtype)
            row = {"forward": summarize(time_calls(lambda x=x: run_net(x), warmup, runs, dev))}
            if end_to_end:
                row["end_to_end"] = summarize(time_calls(
                    lambda u8=u8: postprocess(run_net((u8.float() / 255).to(dtype)), conf=conf, iou=0.7, max_det=300),
                    warmup, runs, dev))
            results[f"batch{b}"] = row
    return {"protocol": protocol, "results": results}


def format_report(name: str, report: dict[str, Any]) -> str:
    """The numbers as a small table, with the protocol on the lines below."""
    p = report["protocol"]
    lines = [f"{name} at {p['imgsz']}x{p['imgsz']}, ms per call (whole batch)",
             f"{'batch':>5}  {'part':<11} {'median':>9} {'p95':>9} {'mean':>9} {'std':>8} {'runs':>5}"]
    for key, row in report["results"].items():
        for part, s in row.items():
            lines.append(f"{key[5:]:>5}  {part:<11} {s['median_ms']:>9.2f} {s['p95_ms']:>9.2f} {s['mean_ms']:>9.2f} "
                         f"{s['std_ms']:>8.2f} {s['runs']:>5}")
    lines.append(f"protocol: fused network, {p['warmup']} warm-up + {p['runs']} timed calls per batch size, "
                 f"{p['dtype']}{', CUDA graphs' if p['cuda_graphs'] else ''}; end to end = {p['end_to_end']}")
    lines.append(f"device: {p['device']}, torch {p['torch']}, {p['threads']} threads")
    if "note" in p:
        lines.append(f"note: {p['note']}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yolo12l benchmark", description="Inference latency with its protocol.")
    p.add_argument("--model", default="yolo12n.yaml", help="model YAML (random weights) or a .ckpt / .pt")
    p.add_argument("--nc", type=int, default=None, help="classes of a YAML model (default: the YAML's)")
    p.add_argument("--imgsz", type=int, default=640, help="square input size, a multiple of 32 (default 640)")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes (default 1; e.g. 1 16)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per batch size (default 5)")
    p.add_argument("--runs", type=int, default=30, help="timed calls per batch size (default 30)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 … (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--half", action="store_true", help="fp16 (CUDA only)")
    p.add_argument("--cuda-graphs", action="store_true", help="torch.compile reduce-overhead (CUDA only)")
    p.add_argument("--conf", type=float, default=0.25, help="NMS confidence threshold of end to end (default 0.25)")
    p.add_argument("--forward-only", action="store_true", help="skip the end-to-end timing")
    p.add_argument("--json", default=None, help="also write the report to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.imgsz <= 0 or args.imgsz % 32:
        raise ConfigError(f"image size --imgsz must be a positive multiple of 32, got {args.imgsz}")
    if args.runs < 1 or args.warmup < 0 or any(b < 1 for b in args.batch):
        raise ConfigError(f"need --runs >= 1, --warmup >= 0, --batch >= 1 (got {args.runs}, {args.warmup}, "
                          f"{args.batch})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {args.device}: CUDA is not available on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_network(args.model, args.nc)
    report = benchmark(net, args.imgsz, tuple(args.batch), args.warmup, args.runs, args.device, args.half,
                       args.cuda_graphs, args.conf, not args.forward_only)
    report["model"] = args.model
    print(format_report(Path(args.model).name, report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
