"""The whole Lightning training step of this checkout against another git revision's (not a test).

Measures what the device-side non-finite guard, the EMA update and the host-side target padding cost or save on
the host: ``YOLODetector`` + ``ModelEMA`` through ``Trainer.fit`` on synthetic images, per-batch wall and process
CPU time, the two checkouts in separate processes, alternating round by round; and the host syncs per step that
``HostSyncCounter`` finds in this checkout.

    python -m benchmarks bench_step_guard --baseline 35f36bb \
        [--model yolo12n.yaml] [--imgsz 320] [--batch 8] [--batches 10] [--rounds 3] \
        [--out benchmarks/results/bench_step_guard-default.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import REPO, module_command, result_path, write_json
from benchmarks.timing import Stopwatch, load_average, median


def worker(args: argparse.Namespace) -> None:
    import lightning as L
    import torch

    from yolo12l.data import SyntheticDataModule
    from yolo12l.training import ModelEMA, YOLODetector
    from yolo12l.training.config import EvalConfig, OptimConfig

    torch.set_num_threads(args.threads)
    times: list[tuple[float, float]] = []

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.sw = Stopwatch().start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            times.append(self.sw.stop())

    syncs = None
    try:
        from yolo12l.training.host_syncs import HostSyncCounter

        class Syncs(L.Callback):
            counts: list[int] = []

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                self.mode = HostSyncCounter()
                self.mode.__enter__()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                self.mode.__exit__(None, None, None)
                self.counts.append(self.mode.count)
                self.where = self.mode.by_origin()

        syncs = Syncs() if args.count_syncs else None
    except ImportError:
        pass
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        n = args.batch * (args.batches + 2)
        dm = SyntheticDataModule(num_train=n, num_val=4, seed=0, imgsz=args.imgsz, batch_size=args.batch,
                                 num_workers=0, pin_memory=False, cache_dir=str(Path(tmp) / "data"))
        model = YOLODetector(args.model, num_classes=dm.num_classes, class_names=dm.class_names, summary_imgsz=0,
                             optim=OptimConfig(optimizer="SGD", warmup_epochs=0, nominal_batch_size=args.batch),
                             evaluation=EvalConfig(save_plots=False))
        callbacks = [ModelEMA(), Clock()] + ([syncs] if syncs else [])
        trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                            callbacks=callbacks, default_root_dir=tmp)
        trainer.fit(model, datamodule=dm)
    timed = times[2:]  # first batches: allocator / kernel warm-up
    out = {"wall_ms": [1000 * w for w, _ in timed], "cpu_ms": [1000 * c for _, c in timed]}
    if syncs is not None:
        out["syncs_per_batch"] = syncs.counts
        out["syncs_last_batch"] = syncs.where
    print("RESULT " + json.dumps(out), flush=True)


def run_side(root: Path, args: argparse.Namespace, count_syncs: bool = False) -> dict:
    # the worker's yolo12l comes from ``root`` (first on the path); ``benchmarks`` from there when it is a package
    # there, else from this checkout
    cmd = [*module_command("benchmarks.bench_step_guard"), "--worker", "--model", args.model, "--imgsz",
           str(args.imgsz), "--batch", str(args.batch), "--batches", str(args.batches), "--threads",
           str(args.threads)] + (["--count-syncs"] if count_syncs else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(root), str(REPO)))}
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"worker in {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="35f36bb", help="git revision to compare with")
    ap.add_argument("--model", default="yolo12n.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count-syncs", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(result_path("bench_step_guard")))
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    load_start = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(base), args.baseline],
                       check=True)
        try:
            sides = {"current": REPO, f"baseline {args.baseline}": base}
            results: dict[str, dict[str, list[float]]] = {k: {"wall_ms": [], "cpu_ms": []} for k in sides}
            for r in range(args.rounds):
                order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
                for name, root in order:
                    res = run_side(root, args)
                    for key in ("wall_ms", "cpu_ms"):
                        results[name][key] += res[key]
                    print(f"round {r + 1} {name}: median {median(res['wall_ms']):.1f} ms wall, "
                          f"{median(res['cpu_ms']):.1f} ms CPU per batch", flush=True)
            syncs = run_side(REPO, args, count_syncs=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    summary = {name: {k: median(v) for k, v in res.items()} for name, res in results.items()}
    base_name = f"baseline {args.baseline}"
    ratio = {k: summary["current"][k] / summary[base_name][k] for k in ("wall_ms", "cpu_ms")}
    print("\n| checkout | median wall ms / batch | median CPU ms / batch |\n|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['wall_ms']:.1f} | {s['cpu_ms']:.1f} |")
    print(f"current / baseline: wall {ratio['wall_ms']:.3f}, CPU {ratio['cpu_ms']:.3f}; host syncs per batch now: "
          f"{syncs['syncs_per_batch'][2:]} ({syncs['syncs_last_batch']})")
    out = {"benchmark": "bench_step_guard", "command": " ".join(sys.argv), "model": args.model,
           "imgsz": args.imgsz, "batch": args.batch, "threads": args.threads, "rounds": args.rounds,
           "load_average_start": load_start, "load_average_end": load_average(), "median": summary,
           "ratio_current_over_baseline": ratio, "runs": results,
           "host_syncs_per_batch_current": syncs["syncs_per_batch"], "host_syncs_where": syncs["syncs_last_batch"]}
    write_json(out, args.out)


if __name__ == "__main__":
    main()
