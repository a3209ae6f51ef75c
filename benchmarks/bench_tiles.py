"""Tile training vs full-image training of yolo12n on the built-in tiny-objects set, same budget (not a test).

Both arms start from the same weights (default: the Ultralytics shapes checkpoint, trained on large shapes of the
same 3 classes), train the same epochs / batches at the same ``imgsz`` through ``yolo12l fit`` — one on whole
images resized to ``imgsz`` (the default), one with ``--data.init_args.tiles true`` (random ``imgsz`` crops of the
1600-px originals) — and each result is validated whole-image and sliced (``--slice imgsz``, NMS merge) through
``yolo12l validate``. Writes ``benchmarks/results/bench_tiles-default.json``.

    python -m benchmarks bench_tiles [--epochs 6] [--imgsz 256] [--image-size 800]
        [--num-train 16] [--weights W]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import result_path, shared_dir

REPO = Path(__file__).resolve().parents[1]


def yolo12l(args: list[str], cwd: Path) -> float:
    t0 = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(cwd / "log.txt", "a") as log:  # the runs' own output (epoch lines), to follow them
        log.write(f"\n$ yolo12l {' '.join(args)}\n")
        log.flush()
        code = subprocess.run([sys.executable, "-c", "import sys; from yolo12l.cli import main; sys.exit(main())",
                               *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"yolo12l {' '.join(args)} failed: see {cwd / 'log.txt'}")
    return time.monotonic() - t0


def last_record(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=800, help="side of the generated images (default 800)")
    ap.add_argument("--num-train", type=int, default=16)
    ap.add_argument("--weights",
                    default=str(shared_dir() / "reference" / "ultralytics" / "yolo12n_shapes_ultralytics.pt"))
    ap.add_argument("--work", default="/tmp/bench_tiles")
    ap.add_argument("--out", default=str(result_path("bench_tiles")))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = ["--data", "yolo12l.data.TinyObjectsDataModule", "--data.init_args.imgsz", str(a.imgsz),
            "--data.init_args.batch_size", str(a.batch), "--data.init_args.num_workers", "1",
            "--data.init_args.close_mosaic", "2", "--data.init_args.num_train", str(a.num_train),
            "--data.init_args.image_size", f"[{a.image_size}, {a.image_size}]",
            "--data.init_args.cache_dir", str(work / "cache")]
    base = ["--config", str(REPO / "configs" / "quickstart.yaml"), *data, "--model.weights", a.weights,
            "--model.optim.nominal_batch_size", str(a.batch), "--trainer.max_epochs", str(a.epochs),
            "--trainer.check_val_every_n_epoch", str(a.epochs), "--model.evaluation.save_plots", "false"]
    results: dict = {"epochs": a.epochs, "imgsz": a.imgsz, "batch": a.batch, "image_size": a.image_size,
                     "num_train": a.num_train, "weights": a.weights,
                     "cpu": os.cpu_count(), "load_avg_start": os.getloadavg(), "arms": {}}
    for arm, extra in (("full_image", []), ("tiles", ["--data.init_args.tiles", "true"])):
        root = work / arm
        fit_s = yolo12l(["fit", *base, *extra, "--trainer.default_root_dir", str(root)], work)
        ckpt = root / "logs" / "version_0" / "checkpoints" / "last.ckpt"
        arm_result = {"fit_s": round(fit_s, 1)}
        for name, opts in (("val_full_image", []), ("val_sliced", ["--slice", str(a.imgsz), "--merge", "nms"])):
            before = sorted((root / "logs").glob("version_*"))
            val_s = yolo12l(["validate", *base, "--trainer.default_root_dir", str(root), "--ckpt_path", str(ckpt),
                             *opts], work)
            new = sorted(set((root / "logs").glob("version_*")) - set(before))[-1]
            rec = last_record(new / "val_metrics.jsonl")
            arm_result[name] = {k: rec[k] for k in ("mAP50-95", "mAP50", "mAP_small", "mAP_medium", "mAP_large")}
            arm_result[name]["s"] = round(val_s, 1)
        results["arms"][arm] = arm_result
        print(arm, json.dumps(arm_result), flush=True)
    results["load_avg_end"] = os.getloadavg()
    Path(a.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
