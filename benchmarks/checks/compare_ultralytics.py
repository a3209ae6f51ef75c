"""Side-by-side training: yolo12l vs Ultralytics 8.4 on the same synthetic set, one evaluator for both.

Steps (each a sub-command; ``all`` runs them in order, the trainings two at a time):

    python -m benchmarks compare_ultralytics data              # synthetic set in YOLO-txt layout + data.yaml
    python -m benchmarks compare_ultralytics train-ul --seed 0    # Ultralytics `yolo train` (in $YOLO12L_UL_PYTHON)
    python -m benchmarks compare_ultralytics train-ours --seed 0  # `yolo12l fit` (LightningCLI) with the same args
    python -m benchmarks compare_ultralytics evaluate          # every epoch's EMA weights of both, one evaluator
    python -m benchmarks compare_ultralytics pipeline          # what the two train loaders feed (in $YOLO12L_UL_PYTHON)

Both trainings get the same arguments (model yaml, epochs, imgsz, batch, optimizer auto, close_mosaic, seed, CPU,
fp32, no DataLoader workers). Every epoch's EMA weights are saved (Ultralytics ``save_period=1``; yolo12l a
``ModelCheckpoint`` per epoch) and evaluated afterwards by yolo12l's evaluator (``YOLODetector.validate``:
pycocotools mAP50-95, conf 0.001, IoU 0.7, 300 detections), Ultralytics' files read through
``yolo12l.interop.load_ultralytics_checkpoint``. Ultralytics' own per-epoch validator numbers (results.csv) are kept
in the JSON as well. Output: ``benchmarks/results/compare_ultralytics-default.{json,png}``.

Only this script imports ``ultralytics`` (in ``train-ul`` and ``pipeline``, which re-execute themselves under
``$YOLO12L_UL_PYTHON``, the separate venv made by ``scripts/setup_ultralytics.sh``); the yolo12l package never does.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.common import (REPO, child_env, module_command, reexec_under_ultralytics, result_path, ul_python,
                               usage_error, write_json)
from benchmarks.timing import Stopwatch, load_average

MODULE = "benchmarks.checks.compare_ultralytics"
DEFAULTS = dict(model="yolo12n.yaml", epochs=20, imgsz=192, batch=16, num_train=256, num_val=64, close_mosaic=5,
                data_seed=0)


# --------------------------------------------------------------------------------------------------------- data
def make_data(root: Path, num_train: int, num_val: int, seed: int) -> Path:
    """yolo12l's synthetic shapes set (COCO json) rewritten in YOLO-txt layout; returns data.yaml."""
    import cv2  # noqa: F401  (synthetic needs it)
    from yolo12l.data.synthetic import SHAPE_CLASSES, synthetic_dataset

    yaml_path = root / "data.yaml"
    if yaml_path.exists():
        return yaml_path
    src = synthetic_dataset(num_train=num_train, num_val=num_val, seed=seed, cache_dir=root / "cache")
    for split, ann_file, img_dir in (("train", src.train_annotations, src.train_images),
                                     ("val", src.val_annotations, src.val_images)):
        coco = json.loads(Path(ann_file).read_text())
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        by_image: dict[int, list[str]] = {im["id"]: [] for im in coco["images"]}
        sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
        for a in coco["annotations"]:
            w, h = sizes[a["image_id"]]
            x, y, bw, bh = a["bbox"]
            by_image[a["image_id"]].append(
                f"{a['category_id'] - 1} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
        for im in coco["images"]:
            shutil.copy2(Path(img_dir) / im["file_name"], root / "images" / split / im["file_name"])
            stem = Path(im["file_name"]).stem
            (root / "labels" / split / f"{stem}.txt").write_text("\n".join(by_image[im["id"]]) + "\n")
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(SHAPE_CLASSES))
    yaml_path.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return yaml_path


# ------------------------------------------------------------------------------------------------------ training
def train_ultralytics(a: argparse.Namespace) -> None:
    """Ultralytics' trainer, as `yolo train` runs it (CPU, fp32)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(a.threads)
    out = Path(a.root) / "ultralytics"
    sw = Stopwatch().start()
    YOLO(a.model).train(data=str(Path(a.root) / "data" / "data.yaml"), epochs=a.epochs, imgsz=a.imgsz,
                        batch=a.batch, seed=a.seed, optimizer="auto", close_mosaic=a.close_mosaic, workers=0,
                        device="cpu", amp=False, plots=False, save_period=1, project=str(out),
                        name=f"seed{a.seed}", exist_ok=True, verbose=False)
    (out / f"seed{a.seed}" / "wall_s.txt").write_text(f"{sw.stop()[0]:.1f}\n")


def train_ours(a: argparse.Namespace) -> None:
    """``yolo12l fit`` (the LightningCLI) with the same arguments, through a generated config file."""
    run = Path(a.root) / "yolo12l" / f"seed{a.seed}"
    run.mkdir(parents=True, exist_ok=True)
    cfg = f"""seed_everything: {a.seed}
trainer:
  accelerator: cpu
  devices: 1
  max_epochs: {a.epochs}
  precision: 32-true
  default_root_dir: {run}
  enable_progress_bar: false
  log_every_n_steps: 10
  logger: {{class_path: lightning.pytorch.loggers.CSVLogger, init_args: {{save_dir: {run}, name: csv}}}}
  callbacks:
    - class_path: yolo12l.training.ModelEMA
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{dirpath: {run}/checkpoints, every_n_epochs: 1, save_top_k: -1, filename: "{{epoch:03d}}"}}
model:
  model: {a.model}
  optimizer: auto
  save_plots: false
data:
  class_path: yolo12l.data.YoloDataModule
  init_args:
    data_yaml: {Path(a.root) / 'data' / 'data.yaml'}
    imgsz: {a.imgsz}
    batch_size: {a.batch}
    num_workers: 0
    persistent_workers: false
    pin_memory: false
    close_mosaic: {a.close_mosaic}
    cache_dir: {Path(a.root) / 'cache'}
"""
    (run / "config.yaml").write_text(cfg)
    env = child_env(OMP_NUM_THREADS=str(a.threads))
    with Stopwatch() as sw:
        subprocess.run([sys.executable, str(REPO / "train.py"), "fit", "--config", str(run / "config.yaml"),
                        *a.extra], check=True, env=env, cwd=REPO)
    (run / "wall_s.txt").write_text(f"{sw.wall:.1f}\n")


# ---------------------------------------------------------------------------------------------------- evaluation
def _evaluator(a: argparse.Namespace):
    import lightning as L
    from yolo12l.data import YoloDataModule

    dm = YoloDataModule(data_yaml=Path(a.root) / "data" / "data.yaml", imgsz=a.imgsz, batch_size=16, num_workers=0,
                        persistent_workers=False, pin_memory=False, cache_dir=Path(a.root) / "cache")
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=Path(a.root) / "evaluate")
    return dm, trainer


def evaluate_weights(path: Path, dm, trainer, model_yaml: str) -> dict:
    """yolo12l's evaluator on one weights file (yolo12l checkpoint = its EMA state_dict, or Ultralytics .pt)."""
    import logging

    from yolo12l.training import YOLODetector
    from yolo12l.training.config import EvalConfig

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    model = YOLODetector(model_yaml, num_classes=dm.num_classes, class_names=dm.class_names, weights=str(path),
                         evaluation=EvalConfig(save_plots=False))
    res = trainer.validate(model, datamodule=dm, verbose=False)[0]
    return {k.split("/")[-1]: float(v) for k, v in res.items() if k.startswith("val/mAP")}


def _epoch_files(run: Path, framework: str) -> dict[int, Path]:
    if framework == "ultralytics":
        return {int(p.stem[5:]): p for p in (run / "weights").glob("epoch*.pt")}
    return {int(p.stem.split("=")[-1]): p for p in (run / "checkpoints").glob("*.ckpt")
            if p.stem.split("=")[-1].isdigit()}


def _ul_own_curve(run: Path) -> list[float]:
    path = run / "results.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [float(r["metrics/mAP50-95(B)"]) for r in csv.DictReader(f)]


def _ours_own_curve(run: Path) -> list[float]:
    files = sorted(run.glob("csv/version_*/metrics.csv"))
    if not files:
        return []
    with files[-1].open() as f:
        return [float(r["val/mAP50-95"]) for r in csv.DictReader(f) if r.get("val/mAP50-95")]


def evaluate(a: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(a.threads)
    dm, trainer = _evaluator(a)
    cache_file = Path(a.root) / "evaluations.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    runs: dict[str, dict] = {}
    for framework in ("ultralytics", "yolo12l"):
        for run in sorted((Path(a.root) / framework).glob("seed*")):
            if not (run / "wall_s.txt").exists():
                continue  # unfinished
            curve = []
            for epoch, path in sorted(_epoch_files(run, framework).items()):
                key = f"{path}:{path.stat().st_mtime_ns}"
                if key not in cache:
                    cache[key] = evaluate_weights(path, dm, trainer, a.model)
                    cache_file.write_text(json.dumps(cache))
                # both number their epoch files from 0
                curve.append({"epoch": epoch + 1, **cache[key]})
            runs[f"{framework}/{run.name}"] = {
                "framework": framework, "seed": int(run.name[4:]), "wall_s": float((run / "wall_s.txt").read_text()),
                "curve": curve, "final": curve[-1] if curve else None,
                "own_validator_mAP50-95": _ul_own_curve(run) if framework == "ultralytics" else _ours_own_curve(run),
            }
    return runs


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {"ultralytics": "tab:blue", "yolo12l": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for i, (name, r) in enumerate(sorted(runs.items())):
        xs = [c["epoch"] for c in r["curve"]]
        ys = [c["mAP50-95"] for c in r["curve"]]
        ax.plot(xs, ys, styles[r["seed"] % len(styles)], color=colours[r["framework"]], marker=".",
                label=f"{r['framework']} seed {r['seed']} (final {ys[-1]:.3f})" if ys else name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mAP50-95 (val, yolo12l evaluator, EMA weights)")
    ax.set_title("yolo12n from scratch, synthetic shapes: Ultralytics 8.4.190 vs yolo12l")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def report(a: argparse.Namespace) -> None:
    runs = evaluate(a)
    summary = {}
    for fw in ("ultralytics", "yolo12l"):
        finals = [r["final"]["mAP50-95"] for r in runs.values() if r["framework"] == fw and r["final"]]
        walls = [r["wall_s"] for r in runs.values() if r["framework"] == fw]
        if finals:
            mean = sum(finals) / len(finals)
            summary[fw] = {"final_mAP50-95": finals, "mean": mean,
                           "std": math.sqrt(sum((f - mean) ** 2 for f in finals) / max(len(finals) - 1, 1)),
                           "wall_s": walls}
    out = Path(a.out)
    record = {"args": {k: getattr(a, k) for k in ("model", "epochs", "imgsz", "batch", "num_train", "num_val",
                                                  "close_mosaic", "data_seed")},
              "evaluator": "yolo12l YOLODetector.validate (pycocotools, conf 0.001, iou 0.7, max_det 300)",
              "loadavg": load_average(), "summary": summary, "runs": runs}
    pipe = Path(a.root) / "pipeline.json"
    if pipe.exists():
        record["pipeline"] = json.loads(pipe.read_text())
    write_json(record, out.with_suffix(".json"))
    plot(runs, out.with_suffix(".png"))
    for fw, s in summary.items():
        print(f"{fw:12s} final mAP50-95 {s['final_mAP50-95']} mean {s['mean']:.3f}  wall {s['wall_s']}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["data", "train-ul", "train-ours", "evaluate", "pipeline", "all"])
    p.add_argument("--root", default=str(REPO / "runs" / "compare_ultralytics"))
    p.add_argument("--out", default=str(result_path("compare_ultralytics")),
                   help="JSON path (the plot goes beside it, .png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--passes", type=int, default=2, help="pipeline: passes over the training set per phase")
    for k, v in DEFAULTS.items():
        p.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    p.add_argument("extra", nargs="*", help="train-ours: extra `yolo12l fit` arguments (after --)")
    a = p.parse_args(argv)
    if a.command in ("train-ul", "pipeline"):
        reexec_under_ultralytics("compare_ultralytics", sys.argv[1:] if argv is None else list(argv))
    root = Path(a.root)
    if a.command in ("data", "all"):
        make_data(root / "data", a.num_train, a.num_val, a.data_seed)
    if a.command == "train-ul":
        train_ultralytics(a)
    elif a.command == "train-ours":
        train_ours(a)
    elif a.command == "pipeline":
        from benchmarks.checks.pipeline_stats import compare_pipelines

        compare_pipelines(a)
    elif a.command == "evaluate":
        report(a)
    elif a.command == "all":
        common = [f"--root={root}", f"--threads={a.threads}"] + [
            f"--{k.replace('_', '-')}={getattr(a, k)}" for k in DEFAULTS]
        if not ul_python().is_file():
            raise usage_error(f"compare_ultralytics all needs ultralytics: {ul_python()} does not exist (make it "
                              "with `bash scripts/setup_ultralytics.sh` or set YOLO12L_UL_PYTHON)")
        jobs = []
        for seed in a.seeds:
            jobs.append([*module_command(MODULE, ul_python()), "train-ul", f"--seed={seed}", *common])
            jobs.append([*module_command(MODULE), "train-ours", f"--seed={seed}", *common])
        env = child_env(YOLO_OFFLINE="1")
        for i in range(0, len(jobs), 2):  # two trainings at a time, one thread each
            procs = [subprocess.Popen(j, cwd=REPO, env=env) for j in jobs[i:i + 2]]
            for pr in procs:
                pr.wait()
        report(a)


if __name__ == "__main__":
    main()
