"""Quickstart benchmark: wall time and mAP of `yolo12l fit --config configs/quickstart.yaml` on this machine.

    python -m benchmarks bench_quickstart [--out benchmarks/results/bench_quickstart-default.json] [extra fit args...]

Prints one row per validation (epoch, seconds since fit start, mAP50-95, mAP50), the time at which mAP50 first
reached 0.5, and the process CPU time; writes the same as JSON.
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

from benchmarks.common import REPO, result_path, write_json
from benchmarks.timing import Stopwatch, load_average


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(result_path("bench_quickstart")))
    args, extra = ap.parse_known_args()
    root = Path(tempfile.mkdtemp(prefix="yolo12l-quickstart-"))
    cmd = [sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/quickstart.yaml"),
           *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with Stopwatch() as sw:
        subprocess.run(cmd, cwd=root, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = sw.wall
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [json.loads(line) for f in root.rglob("val_metrics.jsonl") for line in f.read_text().splitlines()]
    first = next((r for r in rows if r["mAP50"] >= 0.5), None)
    print(f"{'epoch':>5} {'elapsed s':>9} {'mAP50-95':>8} {'mAP50':>6}")
    for r in rows:
        print(f"{r['epoch']:>5} {r['elapsed_s']:>9} {r['mAP50-95']:>8.3f} {r['mAP50']:>6.3f}")
    result = {
        "command": " ".join(cmd), "wall_s": round(wall, 1), "cpu_user_s": round(usage.ru_utime, 1),
        "cpu_sys_s": round(usage.ru_stime, 1), "cpu_count": os.cpu_count(), "load_avg_1min": load_average()[0],
        "final": rows[-1] if rows else None, "first_mAP50_ge_0.5": first, "epochs": rows,
    }
    print(f"wall {wall:.0f} s (user CPU {usage.ru_utime:.0f} s); final mAP50 {rows[-1]['mAP50']:.3f}; "
          f"mAP50 >= 0.5 first at " + (f"epoch {first['epoch']}, {first['elapsed_s']} s" if first else "never"))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
