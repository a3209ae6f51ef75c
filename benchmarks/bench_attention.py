"""Time and peak memory of one forward of the attention blocks at growing feature maps.

Cases (C channels, head dim 32): ``global`` (AAttn, area 1: full attention over the map), ``a2`` (AAttn, area 4:
YOLO12's area attention), ``halo`` (HaloAttention, block 8, halo 3), ``oca`` (DTAB's DilatedOCA, window 4, overlap
window 6) and ``dtab`` (the whole DTAB block). Sizes are P4 maps (stride 16) of 640/1280/1920 px images by default:
40², 80², 120² tokens. Global and A2 grow with the square of the token count (A2 is a quarter of global); the local
ones grow linearly.

Each (case, size) runs in a fresh subprocess so peak memory is its own: on CPU the growth of the process' maximum
resident set size during the first forward (``resource.getrusage``), on CUDA ``torch.cuda.max_memory_allocated``
above the memory held before the forward. Time: the fastest of ``--reps`` further forwards (fewer when they would
take over ~10 s; the minimum is the least disturbed by other load on shared cores). Forward only, ``torch.no_grad``,
batch 1, fp32. On CPU one thread by default: with several threads on shared cores every parallel region waits for
its slowest thread, and the timings of small maps become noise.

    python -m benchmarks bench_attention                       # CPU, writes benchmarks/results/bench_attention-cpu.json
    python -m benchmarks bench_attention --device cuda --sizes 40 80 120 160
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
from pathlib import Path

from benchmarks.common import REPO, child_env, module_command, result_path
from benchmarks.timing import Stopwatch, timeit

CASES = ("global", "a2", "halo", "oca", "dtab")


def build(case: str, channels: int):
    from yolo12l.models.blocks import DTAB, AAttn, DilatedOCA, HaloAttention

    heads = max(channels // 32, 1)
    if case == "global":
        return AAttn(channels, heads, area=1)
    if case == "a2":
        return AAttn(channels, heads, area=4)
    if case == "halo":
        return HaloAttention(channels, block_size=8, halo_size=3)
    if case == "oca":
        return DilatedOCA(channels)
    if case == "dtab":
        return DTAB(channels)
    raise ValueError(f"unknown case {case!r}; choose from {CASES}")


def worker(case: str, size: int, channels: int, device: str, reps: int, threads: int | None) -> dict:
    """Runs in its own process; returns seconds per forward (fastest rep) and peak MiB of the first forward."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = build(case, channels).to(device).eval()
    x = torch.randn(1, channels, size, size, device=device)
    cuda = device.startswith("cuda")
    with torch.no_grad():
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        else:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        with Stopwatch(device) as sw:
            m(x)
        first = sw.wall
        if cuda:
            peak_mib = (torch.cuda.max_memory_allocated() - before) / 2**20
        else:
            peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        times = timeit(lambda: m(x), max(1, min(reps, int(10 / first))), device).wall
    return {"case": case, "size": size, "tokens": size * size, "channels": channels, "device": device,
            "seconds": min(times), "peak_mib": peak_mib, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--sizes", nargs="+", type=int, default=[40, 80, 120], help="map side in tokens")
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default 1 on CPU: reproducible on shared cores; 0 = torch's default)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON path (default benchmarks/results/bench_attention-<device>.json)")
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads is None and a.device == "cpu":
        a.threads = 1
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.channels, a.device, a.reps, a.threads)))
        return

    rows = []
    print(f"{'case':8s} {'map':>8s} {'tokens':>7s} {'ms':>10s} {'peak MiB':>9s} {'t/t0':>6s} {'mem/m0':>7s}")
    for case in a.cases:
        first = None
        for size in a.sizes:
            cmd = [*module_command("benchmarks.bench_attention"), "--worker", case, str(size), "--device", a.device,
                   "--channels", str(a.channels), "--reps", str(a.reps)]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=child_env())
            if res.returncode:
                print(f"{case:8s} {size:>5d}² failed: {res.stderr.strip().splitlines()[-1:]}")
                rows.append({"case": case, "size": size, "error": res.stderr[-2000:]})
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            first = first or r
            r["time_ratio"] = r["seconds"] / first["seconds"]
            r["mem_ratio"] = r["peak_mib"] / first["peak_mib"] if first["peak_mib"] > 0 else None
            rows.append(r)
            mem_ratio = f"{r['mem_ratio']:7.1f}" if r["mem_ratio"] is not None else "      -"
            print(f"{case:8s} {size:>5d}² {r['tokens']:7d} {1e3 * r['seconds']:10.1f} {r['peak_mib']:9.1f} "
                  f"{r['time_ratio']:6.1f} {mem_ratio}", flush=True)
    out = a.out or result_path("bench_attention", a.device.split(":")[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": a.device, "channels": a.channels, "reps": a.reps, "threads": a.threads or "default",
            "python": platform.python_version(), "machine": platform.machine()}
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    growth = [round(s * s / a.sizes[0] ** 2, 2) for s in a.sizes]
    print(f"wrote {out}  (ratios are against the smallest map; tokens grow {growth}×)")


if __name__ == "__main__":
    main()
