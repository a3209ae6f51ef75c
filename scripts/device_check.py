"""GPU throughput check (run by ``scripts/device_check.sh``): mixed-precision fit steps, Ultralytics side by side,
loader vs GPU step rate, 2-process DDP — one JSON.

    python scripts/device_check.py --out DIR               # on the GPU machine (about 3-5 minutes)
    python scripts/device_check.py --dry-run --out DIR     # the same code paths on CPU, tiny sizes (CI-safe)

Sections (each one's failure is recorded in ``errors`` and the others still run; the JSON is rewritten after every
section, so a run stopped by the time limit still leaves what it measured):

* ``fit``: per model (yolo12n, yolo12s) and precision (bf16-mixed, 16-mixed) at 640 px, batch 64, on one generated
  batch (smooth noise, 8 random boxes per image): ``ours_fit`` = ``YOLODetector`` + ``ModelEMA`` through
  ``Trainer.fit`` (the whole step), ``ours_core`` / ``ultralytics_core`` = forward + loss + backward + clip + SGD +
  EMA in a plain loop (``benchmarks.throughput``), ``ours_core_channels_last`` for bf16. Each: median step
  seconds, img/s, peak GPU memory (``max_memory_allocated``), losses and whether all are finite.
* ``loader``: our train loader and Ultralytics' on a generated YOLO-layout dataset (640x480 JPEGs), 640 px,
  batch 64, 16 workers, img/s after a 2-epoch warm-up, against the fastest GPU step rate measured in ``fit``.
* ``large_loader``: our default train loader and Ultralytics' on the large set of ``benchmarks.bench_train
  --dataset large`` (3000 COCO-sized JPEGs made from COCO128, generated into the temporary folder; 640x480 generated
  JPEGs where COCO128 is absent), 640 px, batch 64, 16 workers: img/s, CPU ms per image, decodes per sample, and the
  ratio to each model's bf16 ``ours_fit`` step rate (goal >= 1.2x for yolo12n and yolo12s).
* ``ddp``: 2 processes (``devices=2``, SyncBatchNorm) when 2 GPUs are visible, else the reason it was skipped.
* ``precision``: the GPU half of the suite's precision matrix (``tests/training/test_precision_matrix.py``): per
  precision (16-mixed: fp16 autocast + GradScaler; bf16-mixed) the real CLI commands fit → validate → test →
  predict → export on tiny synthetic data (``cells``), what really ran (recorded inside the runs by
  ``tests/training/precision_probe.py``: Lightning's precision, autocast dtype, the head's input and output dtypes,
  the GradScaler's state in the checkpoint), finite losses, the last epoch's checkpoint, metrics and predictions;
  ``ddp_bf16``: the same fit with 2-process DDP when 2 GPUs are visible (gloo on CPU in the dry run);
  ``sdpa``: which ``scaled_dot_product_attention`` kernel area attention runs (the aten op seen by the profiler:
  flash / efficient / cudnn / math) per dtype, with and without the padding mask, and each backend's time.
* ``goals``: the issue's targets evaluated from the above.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any
from collections.abc import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's yolo12l and benchmarks packages

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.timing import median  # noqa: E402
from benchmarks.throughput import (CoreStep, fit_step_times, loader_rate, ours_loader, synthetic_batch,  # noqa: E402
                                   time_steps, ul_loader, ultralytics_available)

MODELS = ["yolo12n.yaml", "yolo12s.yaml"]
PRECISIONS = ["bf16-mixed", "16-mixed"]
FULL = {"imgsz": 640, "batch": 64, "warmup": 5, "steps": 15, "workers": 16, "images": 512, "loader_warmup": 16,
        "loader_batches": 16, "budget_s": 420, "large_images": 3000, "large_warmup": 8, "large_batches": 16}
DRY = {"imgsz": 64, "batch": 2, "warmup": 0, "steps": 1, "workers": 2, "images": 4, "loader_warmup": 1,
       "loader_batches": 2, "budget_s": 400, "large_images": 8, "large_warmup": 1, "large_batches": 2}


def make_yolo_dataset(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` 640x480 JPEGs of filled rectangles/ellipses on noise + YOLO labels; returns the data YAML."""
    rng = np.random.default_rng(seed)
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = cv2.resize(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_LINEAR)
        rows = []
        for _ in range(int(rng.integers(1, 9))):
            w, h = rng.integers(20, 300), rng.integers(20, 240)
            x, y = rng.integers(0, 640 - w), rng.integers(0, 480 - h)
            c = int(rng.integers(0, 80))
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            if c % 2:
                cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
            else:
                cv2.ellipse(img, (int(x + w / 2), int(y + h / 2)), (int(w / 2), int(h / 2)), 0, 0, 360, colour, -1)
            rows.append(f"{c} {(x + w / 2) / 640:.6f} {(y + h / 2) / 480:.6f} {w / 640:.6f} {h / 480:.6f}")
        cv2.imwrite(str(root / "images" / "train" / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        (root / "labels" / "train" / f"{i:05d}.txt").write_text("\n".join(rows) + "\n")
    names = "\n".join(f"  {k}: class{k}" for k in range(80))
    yaml = root / "data.yaml"
    yaml.write_text(f"path: .\ntrain: images/train\nval: images/train\nnames:\n{names}\n")
    return yaml


def free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def summary(times: list[float], losses: list[float], batch: int, peak: float | None) -> dict[str, Any]:
    m = median(times)
    return {"median_step_s": round(m, 5), "images_per_s": round(batch / m, 1) if m == m and m > 0 else None,
            "peak_memory_gb": round(peak, 3) if peak is not None else None, "losses": [round(v, 4) for v in losses],
            "losses_finite": bool(losses) and all(np.isfinite(losses)), "steps_timed": len(times)}


def peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def core_run(side: str, model: str, precision: str, batch: dict, cfg: dict, device: str,
             channels_last: bool = False) -> dict[str, Any]:
    free()
    peak_reset(device)
    step = CoreStep(side, model, 80, device, precision, ema=True, channels_last=channels_last)
    time_steps(step, batch, cfg["warmup"])
    times, losses = time_steps(step, batch, cfg["steps"])
    out = summary(times, losses, cfg["batch"], peak_gb(device))
    out["precision"] = step.precision
    del step
    free()
    return out


def fit_run(model: str, precision: str, batch: dict, cfg: dict, device: str) -> dict[str, Any]:
    free()
    accel = "cuda" if device.startswith("cuda") else "cpu"
    r = fit_step_times(model, 80, batch, cfg["warmup"] + cfg["steps"] + 1, accelerator=accel, precision=precision)
    out = summary(r["step_seconds"][cfg["warmup"]:], r["losses"], cfg["batch"], r.get("peak_memory_gb"))
    free()
    return out


def section_syncs(cfg: dict, device: str, rec: dict) -> None:
    """Host syncs per training batch of our whole Lightning step (yolo12n, bf16-mixed, 3 batches): counted by
    ``HostSyncCounter`` (every aten op whose result the host waits for) and, on CUDA, by the warnings of
    ``torch.cuda.set_sync_debug_mode("warn")``; what should be left: the loss's two ``nonzero`` calls."""
    import warnings

    import lightning as L

    from yolo12l.data import with_loss_targets
    from yolo12l.training import ModelEMA, YOLODetector
    from yolo12l.training.config import EvalConfig, OptimConfig
    from yolo12l.training.host_syncs import HostSyncCounter

    cuda = device.startswith("cuda")
    per_batch: list[dict[str, Any]] = []

    class Count(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if cuda:
                torch.cuda.synchronize()
                self.caught = warnings.catch_warnings(record=True)
                self.records = self.caught.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            self.mode = HostSyncCounter()
            self.mode.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.mode.__exit__(None, None, None)
            entry: dict[str, Any] = {"host_sync_ops": self.mode.count, "where": self.mode.by_origin()}
            if cuda:
                torch.cuda.set_sync_debug_mode(0)
                self.caught.__exit__(None, None, None)
                entry["cuda_sync_warnings"] = sum("synchroniz" in str(w.message) for w in self.records)
            per_batch.append(entry)

    n = min(cfg["batch"], 8)
    batch = with_loss_targets(synthetic_batch(n, cfg["imgsz"], nc=80), 80)  # padded on the host, as the train loaders
    loader = torch.utils.data.DataLoader([batch] * 3, batch_size=None, shuffle=False)
    module = YOLODetector(model="yolo12n.yaml", num_classes=80, summary_imgsz=0,
                          # fused: the GPU default (the dry run's CPU takes foreach)
                          optim=OptimConfig(optimizer="SGD", warmup_epochs=0, fused_optimizer=True),
                          evaluation=EvalConfig(save_plots=False))
    trainer = L.Trainer(accelerator="cuda" if cuda else "cpu", devices=1, precision="bf16-mixed", max_steps=3,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=[ModelEMA(), Count()])
    trainer.fit(module, train_dataloaders=loader)
    rec["host_syncs"] = {"model": "yolo12n.yaml", "precision": "bf16-mixed", "batch": n, "per_batch": per_batch}
    print("host syncs per batch: " + json.dumps([(e["host_sync_ops"], e.get("cuda_sync_warnings"))
                                                for e in per_batch]), flush=True)


def section_fit(cfg: dict, device: str, have_ul: bool, rec: dict, over_budget: Callable[[], bool]) -> None:
    batch = synthetic_batch(cfg["batch"], cfg["imgsz"], nc=80)
    if device.startswith("cuda"):
        batch = {k: v.pin_memory() for k, v in batch.items()}
    for model in MODELS:
        for precision in PRECISIONS:
            key = f"{model}|{precision}"
            r: dict[str, Any] = {}
            rec["fit"][key] = r
            if over_budget():
                r["skipped"] = "time budget"
                continue
            for name, fn in [("ours_fit", lambda: fit_run(model, precision, batch, cfg, device)),
                             ("ours_core", lambda: core_run("ours", model, precision, batch, cfg, device)),
                             ("ultralytics_core", lambda: core_run("ul", model, precision, batch, cfg, device)
                              if have_ul else {"skipped": "ultralytics not importable"}),
                             ("ours_core_channels_last",
                              lambda: core_run("ours", model, precision, batch, cfg, device, channels_last=True)
                              if precision == "bf16-mixed" else {"skipped": "bf16 only"})]:
                try:
                    r[name] = fn()
                except Exception as e:  # recorded; the other measurements still run
                    r[name] = {"error": f"{type(e).__name__}: {e}"}
                    rec["errors"].append(f"fit {key} {name}: {traceback.format_exc(limit=3)}")
            ul, ours = r.get("ultralytics_core", {}), r.get("ours_fit", {})
            if ul.get("images_per_s") and ours.get("images_per_s"):
                r["ratios"] = {"ours_fit/ultralytics_images_per_s": round(ours["images_per_s"] / ul["images_per_s"], 3),
                               "ours_core/ultralytics_images_per_s":
                                   round(r["ours_core"]["images_per_s"] / ul["images_per_s"], 3)
                                   if r.get("ours_core", {}).get("images_per_s") else None}
                if ours.get("peak_memory_gb") and ul.get("peak_memory_gb"):
                    r["ratios"]["ours_fit/ultralytics_peak_memory"] = round(
                        ours["peak_memory_gb"] / ul["peak_memory_gb"], 3)
            print(f"fit {key}: " + json.dumps({k: v.get("images_per_s") for k, v in r.items()
                                               if isinstance(v, dict) and "images_per_s" in v}), flush=True)


def time_loaders(section: str, sides: list[tuple[str, Callable[[], Any]]], out: dict, rec: dict, warmup: int,
                 batches: int) -> None:
    """Builds each side's loader, times it into ``out[name]`` (an error is recorded, never raised), closes it."""
    for name, build in sides:
        try:
            loader = build()
            out[name] = loader_rate(loader, warmup, batches)
            if hasattr(loader, "close"):
                loader.close()
            del loader
            gc.collect()
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
            rec["errors"].append(f"{section} {name}: {traceback.format_exc(limit=3)}")
        print(f"{section} {name}: {out[name]}", flush=True)


def section_loader(cfg: dict, have_ul: bool, rec: dict, tmp: Path) -> None:
    yaml = make_yolo_dataset(tmp / "gen", cfg["images"])
    out: dict[str, Any] = {"workers": cfg["workers"], "imgsz": cfg["imgsz"], "batch": cfg["batch"],
                           "images": cfg["images"]}
    rec["loader"] = out
    sides = [("ours", lambda: ours_loader(yaml, cfg["imgsz"], cfg["batch"], cfg["workers"], str(tmp / "cache"))),
             ("ours_nobuffer", lambda: ours_loader(yaml, cfg["imgsz"], cfg["batch"], cfg["workers"],
                                                   str(tmp / "cache"), image_buffer_mb=0))]
    if have_ul:
        sides.append(("ultralytics", lambda: ul_loader(yaml, cfg["imgsz"], cfg["batch"], cfg["workers"])))
    else:
        out["ultralytics"] = {"skipped": "ultralytics not importable"}
    time_loaders("loader", sides, out, rec, cfg["loader_warmup"], cfg["loader_batches"])
    rates = [v["ours_fit"]["images_per_s"] for v in rec["fit"].values()
             if isinstance(v.get("ours_fit"), dict) and v["ours_fit"].get("images_per_s")]
    out["gpu_step_rate_images_per_s"] = max(rates) if rates else None
    for name in ("ours", "ours_nobuffer"):
        r = out.get(name, {}).get("images_per_s")
        if r and out["gpu_step_rate_images_per_s"]:
            out[f"{name}/gpu_step_rate"] = round(r / out["gpu_step_rate_images_per_s"], 3)
        u = out.get("ultralytics", {}).get("images_per_s")
        if r and u:
            out[f"{name}/ultralytics"] = round(r / u, 3)


def section_large_loader(cfg: dict, have_ul: bool, rec: dict, tmp: Path) -> None:
    """Large-set loaders (16 workers) against the GPU's bf16 step rate per model; see the module doc."""
    from benchmarks.large_dataset import large_dataset

    try:
        yaml, source = large_dataset(cfg["large_images"], cache=tmp / "large"), "COCO128-derived"
    except FileNotFoundError:
        yaml, source = make_yolo_dataset(tmp / "large_gen", cfg["large_images"]), "generated 640x480"
    out: dict[str, Any] = {"workers": cfg["workers"], "imgsz": cfg["imgsz"], "batch": cfg["batch"],
                           "images": cfg["large_images"], "source": source}
    rec["large_loader"] = out
    sides = [("ours", lambda: ours_loader(yaml, cfg["imgsz"], cfg["batch"], cfg["workers"], str(tmp / "lcache")))]
    if have_ul:
        sides.append(("ultralytics", lambda: ul_loader(yaml, cfg["imgsz"], cfg["batch"], cfg["workers"])))
    else:
        out["ultralytics"] = {"skipped": "ultralytics not importable"}
    time_loaders("large_loader", sides, out, rec, cfg["large_warmup"], cfg["large_batches"])
    ours, ul = out.get("ours", {}).get("images_per_s"), out.get("ultralytics", {}).get("images_per_s")
    if ours and ul:
        out["ours/ultralytics"] = round(ours / ul, 3)
    for key, r in rec["fit"].items():
        step = (r.get("ours_fit") or {}).get("images_per_s") if key.endswith("|bf16-mixed") else None
        if ours and step:
            out[f"ours/{key.split('|')[0]}_bf16_step_rate"] = round(ours / step, 3)


def start_ddp(cfg: dict, device: str, dry: bool, tmp: Path) -> tuple[subprocess.Popen, Path, float] | str:
    """Launches the 2-rank run (``ddp_child``) in a subprocess; or returns why it is skipped."""
    n = torch.cuda.device_count() if device.startswith("cuda") else 0
    if not dry and n < 2:
        return f"{n} GPU(s) visible: 2-process DDP needs 2 (NCCL refuses two ranks on one GPU)"
    res = tmp / "ddp.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--ddp-child", str(res), "--imgsz", str(cfg["imgsz"]),
           "--batch", str(cfg["batch"]), "--steps", str(cfg["warmup"] + cfg["steps"] + 1)]
    if dry:  # the same launch on CPU (gloo) so the code path is exercised
        cmd.append("--dry-run")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), res, time.time()


def finish_ddp(started: tuple[subprocess.Popen, Path, float] | str, rec: dict) -> None:
    if isinstance(started, str):
        rec["ddp"] = {"skipped": started}
        return
    p, res, t0 = started
    out, _ = p.communicate(timeout=300)
    rec["ddp"] = json.loads(res.read_text()) if res.is_file() else {"error": f"exit {p.returncode}: {out[-2000:]}"}
    rec["ddp"]["wall_s"] = round(time.time() - t0, 1)


def ddp_child(a) -> None:
    """2 ranks (Lightning re-launches this script), SyncBatchNorm, bf16 on GPU; rank 0 writes the JSON."""

    cfg = DRY if a.dry_run else FULL
    batch = synthetic_batch(a.batch, a.imgsz, nc=80)
    accel = "cpu" if a.dry_run else "cuda"
    prec = "bf16-mixed"
    import lightning.pytorch as pl
    from yolo12l.training import ModelEMA, YOLODetector
    from yolo12l.training.config import EvalConfig, OptimConfig

    stamps: list[float] = []
    losses: list[float] = []

    class T(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, b, i):
            if accel == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))

    module = YOLODetector(model="yolo12n.yaml", num_classes=80,
                          optim=OptimConfig(optimizer="SGD", warmup_min_iters=0, warmup_epochs=0),
                          evaluation=EvalConfig(save_plots=False))
    sync_bn = accel == "cuda"  # torch's SyncBatchNorm is GPU-only
    trainer = pl.Trainer(accelerator=accel, devices=2, strategy="ddp", precision=prec, sync_batchnorm=sync_bn,
                         max_steps=a.steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                         callbacks=[ModelEMA(), T()])
    loader = torch.utils.data.DataLoader([batch] * a.steps, batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    dts = [b - x for x, b in zip(stamps, stamps[1:])][cfg["warmup"]:]
    if trainer.global_rank == 0:
        m = median(dts)
        Path(a.ddp_child).write_text(json.dumps({
            "world_size": trainer.world_size, "model": "yolo12n.yaml", "precision": prec, "sync_batchnorm": sync_bn,
            "batch_per_rank": a.batch, "median_step_s": m,
            "images_per_s": round(2 * a.batch / m, 1) if m == m else None,
            "losses_finite": bool(losses) and all(np.isfinite(losses)), "losses": losses}))


PRECISION_CELLS = ["16-mixed", "bf16-mixed"]
PROBE_DIR = REPO / "tests" / "training"  # precision_probe.PrecisionProbe, the matrix test's recorder


TINY = {"num_train": 8, "num_val": 4}  # the matrix test's sizes


def tiny_cli(cache: Path, precision: str, accel: str) -> list[str]:
    """configs/quickstart.yaml shrunk to 8 train / 4 val images of 64 px, batch 4, one epoch."""
    return ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.accelerator", accel,
            "--trainer.max_epochs", "1", "--trainer.log_every_n_steps", "1", "--trainer.precision", precision,
            "--data.init_args.num_train", str(TINY["num_train"]), "--data.init_args.num_val", str(TINY["num_val"]),
            "--data.init_args.imgsz", "64",
            "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
            "--data.init_args.persistent_workers", "false", "--data.init_args.cache_dir", str(cache),
            "--model.summary_imgsz", "0", "--trainer.callbacks+=precision_probe.PrecisionProbe"]


def fit_outcome(run: Path) -> dict[str, Any]:
    """What a fit left in its run folder: finite losses, the last checkpoint (its epoch, float32 finite weights, the
    GradScaler's state), the validation record, predictions and plots."""
    import csv

    out: dict[str, Any] = {}
    rows = list(csv.DictReader((run.parents[1] / "csv" / "version_0" / "metrics.csv").open()))
    losses = [float(r[k]) for r in rows for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss") if r.get(k)]
    out["losses"] = [round(v, 4) for v in losses]
    out["losses_finite"] = bool(losses) and all(np.isfinite(losses))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    weights = [t for t in ckpt["state_dict"].values() if t.is_floating_point()]
    out["last_epoch"] = ckpt["epoch"]
    out["weights_float32_finite"] = all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for t in weights)
    scaler = ckpt.get("MixedPrecision") or {}
    out["grad_scaler_scale"] = float(scaler["scale"]) if "scale" in scaler else None
    out["val_records"] = len((run / "val_metrics.jsonl").read_text().splitlines())
    out["predictions"] = len(json.loads((run / "predictions.json").read_text()))
    out["plots"] = sorted(p.name for p in (run / "plots").iterdir())
    return out


def precision_cell(precision: str, accel: str, tmp: Path) -> dict[str, Any]:
    """fit → validate → test → predict → export through ``yolo12l.cli.main`` in this process."""
    import contextlib
    import io

    from yolo12l.cli import main as cli_main
    from yolo12l.data import SyntheticDataModule

    root = tmp / f"cell-{precision}"
    root.mkdir()
    cache = tmp / "synth"
    paths = SyntheticDataModule(**TINY, seed=0, cache_dir=cache).synthetic_paths
    os.environ["PRECISION_PROBE_DIR"] = str(root / "probe")
    if str(PROBE_DIR) not in sys.path:
        sys.path.insert(0, str(PROBE_DIR))
    base = tiny_cli(cache, precision, accel)
    run = root / "runs" / "quickstart" / "logs"
    last = run / "version_0" / "checkpoints" / "last.ckpt"
    cell: dict[str, Any] = {"commands": {}}
    cwd, argv = os.getcwd(), sys.argv
    os.chdir(root)
    sys.argv = ["yolo12l"]
    try:
        for name, args in [("fit", ["fit", *base]),
                           ("validate", ["validate", *base, "--ckpt_path", str(last)]),
                           ("test", ["test", *base, "--ckpt_path", str(last),  # test needs a test split
                                     "--data.init_args.test_annotations", str(paths.val_annotations),
                                     "--data.init_args.test_images", str(paths.val_images)]),
                           ("predict", ["predict", *base, "--ckpt_path", str(last),
                                        "--model.evaluation.predict_conf", "0.0",
                                        "--data.init_args.predict_source", str(run / "version_0" / "plots")]),
                           ("export", ["export", "--weights", str(last), "--imgsz", "64", "--out",
                                       str(root / "model.onnx")])]:
            ts = time.time()
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):
                    rc = cli_main(args)
            except SystemExit as e:
                rc = e.code
            cell["commands"][name] = {"rc": rc, "s": round(time.time() - ts, 1)}
            if rc != 0:
                cell["commands"][name]["output"] = buf.getvalue()[-1500:]
                break
            probe = root / "probe" / f"{'fit' if name == 'fit' else name}-rank0.json"
            if probe.is_file():
                cell["commands"][name]["ran"] = json.loads(probe.read_text())
        if cell["commands"].get("fit", {}).get("rc") == 0:
            cell["fit"] = fit_outcome(run / "version_0")
        for name, folder, files in [("validate", "version_1", ("val_metrics.jsonl", "predictions.json")),
                                    ("test", "version_2", ("test_metrics.jsonl", "predictions.json"))]:
            if cell["commands"].get(name, {}).get("rc") == 0:
                cell[name] = {f: (run / folder / f).is_file() for f in files}
        pred = root / "runs" / "quickstart" / "predict" / "predictions.json"
        cell["predict_detections"] = len(json.loads(pred.read_text())) if pred.is_file() else None
        cell["onnx_bytes"] = (root / "model.onnx").stat().st_size if (root / "model.onnx").is_file() else None
    finally:
        os.chdir(cwd)
        sys.argv = argv
    return cell


def cell_ok(cell: dict[str, Any], precision: str, cuda: bool) -> bool:
    """Every command exited 0 and ran what was asked, losses finite, last epoch saved, every report written."""
    cmds = cell.get("commands", {})
    if [n for n, c in cmds.items() if c.get("rc") == 0] != ["fit", "validate", "test", "predict", "export"]:
        return False
    really = precision if cuda else "bf16-mixed"  # CPU: Lightning runs 16-mixed as bf16
    dtype = "torch.float16" if really == "16-mixed" else "torch.bfloat16"
    for name in ("fit", "validate", "test", "predict"):
        ran = cmds[name].get("ran") or {}
        stages = [s for s in ("train", "validate", "test", "predict") if s in ran]
        if ran.get("precision") != really or not stages:
            return False
        for s in stages:
            seen = ran[s]
            if seen["autocast_dtype"] != dtype or seen["head_input"] != dtype or not seen["finite"]:
                return False
            if s != "train" and seen["output"] != "torch.float32":
                return False
    fit = cell.get("fit", {})
    scaler_ok = (fit.get("grad_scaler_scale") is not None) == (really == "16-mixed")
    return bool(fit.get("losses_finite") and fit.get("last_epoch") == 0 and fit.get("weights_float32_finite")
                and fit.get("val_records") == 1 and scaler_ok and all(cell.get("validate", {}).values())
                and all(cell.get("test", {}).values()) and cell.get("predict_detections") and cell.get("onnx_bytes"))


def ddp_precision_cell(accel: str, tmp: Path) -> dict[str, Any]:
    """``train.py fit`` with 2-process DDP in bf16-mixed (Lightning re-launches the command as rank 1)."""
    from yolo12l.data import SyntheticDataModule

    root = tmp / "cell-ddp-bf16"
    root.mkdir()
    cache = tmp / "synth"
    SyntheticDataModule(**TINY, seed=0, cache_dir=cache)
    env = dict(os.environ, PRECISION_PROBE_DIR=str(root / "probe"),
               PYTHONPATH=os.pathsep.join([str(REPO), str(PROBE_DIR), os.environ.get("PYTHONPATH", "")]))
    if accel == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    args = ["fit", *tiny_cli(cache, "bf16-mixed", accel), "--trainer.devices", "2", "--trainer.strategy", "ddp",
            "--data.init_args.batch_size", "2"]
    ts = time.time()
    p = subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=root, env=env, capture_output=True,
                       text=True, timeout=300)
    cell: dict[str, Any] = {"rc": p.returncode, "s": round(time.time() - ts, 1)}
    if p.returncode != 0:
        cell["output"] = (p.stdout + p.stderr)[-2000:]
        return cell
    cell["fit"] = fit_outcome(root / "runs" / "quickstart" / "logs" / "version_0")
    cell["ran"] = {r: json.loads((root / "probe" / f"fit-rank{r}.json").read_text()) for r in (0, 1)
                   if (root / "probe" / f"fit-rank{r}.json").is_file()}
    return cell


def sdpa_kernels(device: str, dry: bool) -> dict[str, Any]:
    """Area attention's SDPA kernel per dtype, unmasked (sides multiples of 32) and masked (padded tokens), at
    yolo12n's P4 stage for a 640 px image (40x40 tokens, 4 areas, 128 channels, 4 heads of 32): the aten op the
    profiler sees, and the forward time under each backend forced with ``sdpa_kernel``."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile

    from yolo12l.models.blocks import AAttn

    side, reps = (8, 1) if dry else (40, 20)
    attn = AAttn(128, num_heads=4, area=4).to(device).eval()
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    out: dict[str, Any] = {"shape": [1, 128, side, side], "heads": 4, "area": 4}
    for dtype in ("bfloat16", "float16"):
        for masked in (False, True):
            w = side - 1 if masked else side  # 40x39 tokens: not divisible by 4 areas, padded keys masked
            x = torch.randn(1, 128, side, w, device=device)
            key = f"{dtype}|{'masked' if masked else 'unmasked'}"
            r: dict[str, Any] = {}
            with torch.inference_mode(), torch.autocast(device_type=device, dtype=getattr(torch, dtype)):
                acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
                with profile(activities=acts) as prof:
                    attn(x)
                r["default_op"] = sorted({e.key for e in prof.key_averages()
                                          if e.key.startswith("aten::_scaled_dot_product")})
                r["fused"] = any(k in op for op in r["default_op"] for k in ("flash", "efficient", "cudnn"))
                for name, backend in backends.items():
                    try:
                        with sdpa_kernel([backend]):
                            attn(x)
                            if device == "cuda":
                                torch.cuda.synchronize()
                            ts = time.perf_counter()
                            for _ in range(reps):
                                attn(x)
                            if device == "cuda":
                                torch.cuda.synchronize()
                        r[f"{name}_ms"] = round((time.perf_counter() - ts) / reps * 1e3, 3)
                    except RuntimeError as e:
                        r[f"{name}_ms"] = None
                        r[f"{name}_error"] = str(e).splitlines()[0][:200]
            out[key] = r
    return out


def section_precision(cfg: dict, device: str, dry: bool, rec: dict, tmp: Path) -> None:
    cuda = device.startswith("cuda")
    accel = "gpu" if cuda else "cpu"
    out: dict[str, Any] = {"cells": {}, "ok": {}}
    rec["precision"] = out
    for precision in PRECISION_CELLS:
        try:
            out["cells"][precision] = precision_cell(precision, accel, tmp)
        except Exception as e:
            out["cells"][precision] = {"error": f"{type(e).__name__}: {e}"}
            rec["errors"].append(f"precision {precision}: {traceback.format_exc(limit=3)}")
        out["ok"][precision] = cell_ok(out["cells"][precision], precision, cuda)
        print(f"precision {precision}: ok={out['ok'][precision]}", flush=True)
    n = torch.cuda.device_count() if cuda else 0
    if cuda and n < 2:
        out["ddp_bf16"] = {"skipped": f"{n} GPU(s) visible: 2-process DDP needs 2"}
    else:
        try:
            out["ddp_bf16"] = ddp_precision_cell(accel, tmp)
        except Exception as e:
            out["ddp_bf16"] = {"error": f"{type(e).__name__}: {e}"}
            rec["errors"].append(f"precision ddp_bf16: {traceback.format_exc(limit=3)}")
        d = out["ddp_bf16"]
        fit = d.get("fit", {})
        out["ok"]["ddp_bf16"] = bool(d.get("rc") == 0 and fit.get("losses_finite") and fit.get("last_epoch") == 0
                                     and fit.get("val_records") == 1 and len(d.get("ran", {})) == 2
                                     and all(r.get("precision") == "bf16-mixed" for r in d["ran"].values()))
        print(f"precision ddp_bf16: ok={out['ok']['ddp_bf16']}", flush=True)
    try:
        out["sdpa"] = sdpa_kernels(device, dry)
        print("sdpa: " + json.dumps({k: v.get("default_op") for k, v in out["sdpa"].items() if isinstance(v, dict)}),
              flush=True)
    except Exception as e:
        out["sdpa"] = {"error": f"{type(e).__name__}: {e}"}
        rec["errors"].append(f"precision sdpa: {traceback.format_exc(limit=3)}")


def goals(rec: dict) -> dict[str, Any]:
    g: dict[str, Any] = {}
    prec = rec.get("precision") or {}
    for key, ok in (prec.get("ok") or {}).items():
        g[f"precision matrix {key}: every command"] = ok
    sdpa = prec.get("sdpa") or {}
    if "bfloat16|unmasked" in sdpa and not rec.get("dry_run"):
        g["area attention runs a fused SDPA kernel (bf16 and fp16, unmasked)"] = all(
            sdpa.get(f"{d}|unmasked", {}).get("fused") for d in ("bfloat16", "float16"))
    for key, r in rec["fit"].items():
        if not isinstance(r, dict):  # {"skipped": "time budget"}
            continue
        ratios = r.get("ratios") or {}
        if key.endswith("|bf16-mixed") and ratios:
            m = key.split("|")[0]
            g[f"{m} bf16 img/s >= 1.3x ultralytics"] = ratios.get("ours_fit/ultralytics_images_per_s", 0) >= 1.3
            if "ours_fit/ultralytics_peak_memory" in ratios:
                g[f"{m} bf16 peak memory <= 0.8x ultralytics"] = ratios["ours_fit/ultralytics_peak_memory"] <= 0.8
        g[f"{key} losses finite"] = all(v.get("losses_finite", False) for k, v in r.items()
                                        if k.startswith("ours") and isinstance(v, dict) and "losses" in v)
    for key, v in (rec.get("large_loader") or {}).items():
        if key.endswith("_bf16_step_rate"):
            g[f"large-set loader >= 1.2x {key[5:-15]} bf16 step rate (16 workers)"] = v >= 1.2
    ld = rec.get("loader") or {}
    if "ours/gpu_step_rate" in ld:
        g["loader >= 1.2x GPU step rate (16 workers)"] = ld["ours/gpu_step_rate"] >= 1.2
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT"), help="output folder (default $OUT)")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, a few steps (same code paths and keys)")
    ap.add_argument("--ddp-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--imgsz", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    a = ap.parse_args()
    if a.ddp_child:
        return ddp_child(a)
    if not a.out:
        ap.error("give an output folder (--out DIR) or set $OUT")
    cfg = dict(DRY if a.dry_run else FULL)
    for k in ("imgsz", "batch", "steps"):
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
    if not a.dry_run and not torch.cuda.is_available():
        sys.exit("device_check: no CUDA device (use --dry-run for the CPU code path check)")
    device = "cpu" if a.dry_run else "cuda"
    if a.dry_run:
        torch.set_num_threads(1)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    have_ul = ultralytics_available()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("device_check_dry_run.json" if a.dry_run else "device_check.json")
    t0 = time.time()
    rec: dict[str, Any] = {
        "device_check": 1, "dry_run": a.dry_run, "config": cfg,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "ultralytics": None, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()),
        "fit": {}, "host_syncs": {}, "loader": {}, "large_loader": {}, "ddp": {}, "precision": {}, "goals": {},
        "errors": [], "section_s": {}, "wall_s": None}
    if have_ul:
        import ultralytics

        rec["ultralytics"] = ultralytics.__version__

    def write() -> None:
        rec["wall_s"] = round(time.time() - t0, 1)
        rec["goals"] = goals(rec)
        path.write_text(json.dumps(rec, indent=1) + "\n")

    def over_budget() -> bool:  # the dry run checks every section's code path, however slow the machine
        return not a.dry_run and time.time() - t0 > cfg["budget_s"]

    with tempfile.TemporaryDirectory() as tmp:
        # dry run: the DDP launch overlaps the other sections (timings mean nothing there); on the GPU it runs last
        early = start_ddp(cfg, device, True, Path(tmp)) if a.dry_run else None
        # the precision matrix first: whether every command works matters more than how fast the others are
        for name, fn in [("precision", lambda: section_precision(cfg, device, a.dry_run, rec, Path(tmp))),
                         ("fit", lambda: section_fit(cfg, device, have_ul, rec, over_budget)),
                         ("host_syncs", lambda: section_syncs(cfg, device, rec)),
                         ("loader", lambda: section_loader(cfg, have_ul, rec, Path(tmp))),
                         ("ddp", lambda: finish_ddp(early if early is not None
                                                    else start_ddp(cfg, device, False, Path(tmp)), rec)),
                         ("large_loader", lambda: section_large_loader(cfg, have_ul, rec, Path(tmp)))]:
            ts = time.time()
            if over_budget():
                rec[name] = {"skipped": "time budget"}
            else:
                try:
                    fn()
                except Exception:
                    rec["errors"].append(f"{name}: {traceback.format_exc(limit=5)}")
            rec["section_s"][name] = round(time.time() - ts, 1)
            write()
    print(json.dumps(rec["goals"], indent=1))
    print(f"wrote {path} ({rec['wall_s']} s, {len(rec['errors'])} error(s))")


if __name__ == "__main__":
    main()
