"""GPU throughput check (run by ``scripts/device_check.sh``): mixed-precision fit steps, Ultralytics side by side,
loader vs GPU step rate, 2-process DDP — one JSON.

    python scripts/device_check.py --out DIR               # on the GPU machine (about 3-5 minutes)
    python scripts/device_check.py --dry-run --out DIR     # the same code paths on CPU, tiny sizes (CI-safe)

Sections (each one's failure is recorded in ``errors`` and the others still run; the JSON is rewritten after every
section, so a run stopped by the time limit still leaves what it measured):

* ``fit``: per model (yolo12n, yolo12s) and precision (bf16-mixed, 16-mixed) at 640 px, batch 64, on one generated
  batch (smooth noise, 8 random boxes per image): ``ours_fit`` = ``YOLODetector`` + ``ModelEMA`` through
  ``Trainer.fit`` (the whole step), ``ours_core`` / ``ultralytics_core`` = forward + loss + backward + clip + SGD +
  EMA in a plain loop (``benchmarks/throughput.py``), ``ours_core_channels_last`` for bf16. Each: median step
  seconds, img/s, peak GPU memory (``max_memory_allocated``), losses and whether all are finite.
* ``loader``: our train loader and Ultralytics' on a generated YOLO-layout dataset (640x480 JPEGs), 640 px,
  batch 64, 16 workers, img/s after a 2-epoch warm-up, against the fastest GPU step rate measured in ``fit``.
* ``large_loader``: our default train loader and Ultralytics' on the large set of ``benchmarks/bench_train.py
  --dataset large`` (3000 COCO-sized JPEGs made from COCO128, generated into the temporary folder; 640x480 generated
  JPEGs where COCO128 is absent), 640 px, batch 64, 16 workers: img/s, CPU ms per image, decodes per sample, and the
  ratio to each model's bf16 ``ours_fit`` step rate (goal >= 1.2x for yolo12n and yolo12s).
* ``ddp``: 2 processes (``devices=2``, SyncBatchNorm) when 2 GPUs are visible, else the reason it was skipped.
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
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from throughput import (CoreStep, fit_step_times, loader_rate, median, ours_loader, synthetic_batch,  # noqa: E402
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
    module = YOLODetector(model="yolo12n.yaml", num_classes=80, optimizer="SGD", warmup_epochs=0, save_plots=False,
                          summary_imgsz=0, fused_optimizer=True)  # the GPU default (the dry run's CPU takes foreach)
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
    for name, build in sides:
        try:
            loader = build()
            out[name] = loader_rate(loader, cfg["loader_warmup"], cfg["loader_batches"])
            if hasattr(loader, "close"):
                loader.close()
            del loader
            gc.collect()
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
            rec["errors"].append(f"loader {name}: {traceback.format_exc(limit=3)}")
        print(f"loader {name}: {out[name]}", flush=True)
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
    from large_dataset import large_dataset

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
    for name, build in sides:
        try:
            loader = build()
            out[name] = loader_rate(loader, cfg["large_warmup"], cfg["large_batches"])
            if hasattr(loader, "close"):
                loader.close()
            del loader
            gc.collect()
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
            rec["errors"].append(f"large_loader {name}: {traceback.format_exc(limit=3)}")
        print(f"large_loader {name}: {out[name]}", flush=True)
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

    stamps: list[float] = []
    losses: list[float] = []

    class T(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, b, i):
            if accel == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))

    module = YOLODetector(model="yolo12n.yaml", num_classes=80, optimizer="SGD", warmup_min_iters=0, warmup_epochs=0,
                          save_plots=False)
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
            "batch_per_rank": a.batch, "median_step_s": m, "images_per_s": round(2 * a.batch / m, 1) if m == m else None,
            "losses_finite": bool(losses) and all(np.isfinite(losses)), "losses": losses}))


def goals(rec: dict) -> dict[str, Any]:
    g: dict[str, Any] = {}
    for key, r in rec["fit"].items():
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
        "fit": {}, "host_syncs": {}, "loader": {}, "large_loader": {}, "ddp": {}, "goals": {}, "errors": [], "section_s": {}, "wall_s": None}
    if have_ul:
        import ultralytics

        rec["ultralytics"] = ultralytics.__version__

    def write() -> None:
        rec["wall_s"] = round(time.time() - t0, 1)
        rec["goals"] = goals(rec)
        path.write_text(json.dumps(rec, indent=1) + "\n")

    def over_budget() -> bool:
        return time.time() - t0 > cfg["budget_s"]

    with tempfile.TemporaryDirectory() as tmp:
        # dry run: the DDP launch overlaps the other sections (timings mean nothing there); on the GPU it runs last
        early = start_ddp(cfg, device, True, Path(tmp)) if a.dry_run else None
        for name, fn in [("fit", lambda: section_fit(cfg, device, have_ul, rec, over_budget)),
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
