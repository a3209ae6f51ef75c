"""The precision matrix: the real CLI commands — fit (EMA, checkpoints, plots on), validate, test, predict (config
path) and export — under every precision the Trainer offers, and bf16-mixed with 2-process DDP (gloo).

On a CPU Lightning runs ``16-mixed`` as bf16 autocast (fp16 AMP is CUDA-only); the cells assert what really runs,
recorded from inside the runs by ``precision_probe.PrecisionProbe``. The GPU half of the matrix (16-mixed with a
GradScaler, bf16, bf16 + DDP, the SDPA kernels) is ``scripts/device_check.py --sections precision``.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from run_helpers import REPO, check, free_port, script_env
from yolo12l.cli import main
from yolo12l.data.synthetic import synthetic_dataset

QUICKSTART = REPO / "configs" / "quickstart.yaml"
PROBE = "--trainer.callbacks+=precision_probe.PrecisionProbe"
RUN = Path("runs/quickstart")


def tiny(cache: Path, precision: str) -> list[str]:
    """quickstart.yaml shrunk: 8 train / 4 val synthetic images of 64 px, batch 4, one epoch."""
    return ["--config", str(QUICKSTART), "--trainer.max_epochs", "1", "--trainer.log_every_n_steps", "1",
            "--trainer.precision", precision, "--data.init_args.num_train", "8", "--data.init_args.num_val", "4",
            "--data.init_args.imgsz", "64", "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
            "--data.init_args.persistent_workers", "false", "--data.init_args.cache_dir", str(cache),
            "--model.summary_imgsz", "0"]


def expected(precision: str) -> tuple[str, torch.dtype | None]:
    """(the precision Lightning really runs, autocast's dtype or None) on this machine's default accelerator."""
    if precision == "32-true":
        return precision, None
    if precision == "16-mixed" and not torch.cuda.is_available():
        return "bf16-mixed", torch.bfloat16  # Lightning: "AMP with fp16 is not supported on CPU"
    return precision, torch.float16 if precision == "16-mixed" else torch.bfloat16


def probe(folder: Path, stage: str, rank: int = 0) -> dict:
    return json.loads((folder / f"{stage}-rank{rank}.json").read_text())


def check_probe(record: dict, stages: tuple[str, ...], precision: str, fused: bool) -> None:
    """What ran: Lightning's precision, autocast on (in which dtype) or off, the head's branches computing in that
    dtype, the network's decoded output float32 and finite, the fused network in evaluation-only commands."""
    really, dtype = expected(precision)
    assert record["precision"] == really
    assert record["scaler"] == (really == "16-mixed")  # a GradScaler only for fp16
    for stage in stages:
        seen = record[stage]
        assert seen["autocast"] == (dtype is not None), (stage, seen)
        assert seen["autocast_dtype"] == (str(dtype) if dtype is not None else None), (stage, seen)
        assert seen["head_input"] == str(dtype or torch.float32), (stage, seen)
        assert seen["finite"], (stage, seen)
        if stage != "train":  # decoded detections leave the model in float32, whatever it computed in
            assert seen["output"] == "torch.float32" and seen["fused"] == fused, (stage, seen)


def check_fit(run: Path, num_val: int) -> Path:
    """Finite losses, a finite float32 checkpoint of the last epoch, validation metrics, plots, predictions."""
    rows = list(csv.DictReader((run.parents[1] / "csv" / "version_0" / "metrics.csv").open()))
    losses = [float(r[k]) for r in rows for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss") if r.get(k)]
    assert len(losses) >= 3 and all(math.isfinite(v) for v in losses), losses
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0  # the last (only) epoch
    weights = [t for t in ckpt["state_dict"].values() if t.is_floating_point()]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights)  # master weights stay fp32
    check_metrics(run / "val_metrics.jsonl", num_val)
    check_predictions(run / "predictions.json")
    for name in ("results.png", "labels.png", "train_batch0.jpg", "val_pr_curve.png", "val_batch0_pred.jpg",
                 "val_confusion_matrix_normalized.png"):
        assert (run / "plots" / name).stat().st_size > 0, name
    return last


def check_metrics(path: Path, num_images: int) -> dict:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 1 and records[0]["num_images"] == num_images
    assert all(math.isfinite(records[0][k]) and -1 <= records[0][k] <= 1 for k in ("mAP50-95", "mAP50", "mAP75"))
    return records[0]


def check_predictions(path: Path, files: set[str] | None = None) -> None:
    preds = json.loads(path.read_text())
    assert isinstance(preds, list)
    for p in preds:
        assert all(math.isfinite(v) for v in p["bbox"]) and 0 <= p["score"] <= 1 and p["category_id"] in range(1, 6)
    if files is not None:  # predict_conf 0: every image has detections
        assert {p["file_name"] for p in preds} == files


def cli(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_precision_cell(precision, synth_cache, tmp_path, monkeypatch):
    """fit → validate → test → predict (config path) → export, in-process through the console entry point."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    monkeypatch.setenv("PRECISION_PROBE_DIR", str(tmp_path / "probe"))
    base = [*tiny(synth_cache, precision), PROBE]
    cli(["fit", *base])
    logs = tmp_path / RUN / "logs"
    last = check_fit(logs / "version_0", num_val=4)
    check_probe(probe(tmp_path / "probe", "fit"), ("train", "validate"), precision, fused=False)

    cli(["validate", *base, "--ckpt_path", str(last)])
    record = check_metrics(logs / "version_1" / "val_metrics.jsonl", 4)
    check_predictions(logs / "version_1" / "predictions.json")
    check_probe(probe(tmp_path / "probe", "validate"), ("validate",), precision, fused=True)
    if precision == "32-true":  # the checkpoint holds the EMA weights the fit validated with
        fit_record = check_metrics(logs / "version_0" / "val_metrics.jsonl", 4)
        assert record["mAP50-95"] == pytest.approx(fit_record["mAP50-95"], abs=1e-12)

    val = synthetic_dataset(8, 4, 0, (160, 320), 6, synth_cache)  # the fit's set (cached): its val split as test
    cli(["test", *base, "--ckpt_path", str(last), "--data.init_args.test_annotations", str(val.val_annotations),
         "--data.init_args.test_images", str(val.val_images)])
    check_metrics(logs / "version_2" / "test_metrics.jsonl", 4)
    check_predictions(logs / "version_2" / "predictions.json")
    check_probe(probe(tmp_path / "probe", "test"), ("test",), precision, fused=True)

    images = logs / "version_0" / "plots"  # any folder of images: the fit's plots
    cli(["predict", *base, "--ckpt_path", str(last), "--model.evaluation.predict_conf", "0.0",
         "--data.init_args.predict_source", str(images)])
    files = {p.name for p in images.iterdir() if p.suffix in (".png", ".jpg")}
    check_predictions(tmp_path / RUN / "predict" / "predictions.json", files)
    check_probe(probe(tmp_path / "probe", "predict"), ("predict",), precision, fused=True)

    out = cli(["export", "--weights", str(last), "--imgsz", "64", "--out", str(tmp_path / "model.onnx")])
    assert (tmp_path / "model.onnx").stat().st_size > 0 and "output0 float32[batch, 9, 84]" in out


@pytest.mark.xdist_group("multiprocess")  # one xdist worker runs the multi-process tests in turn
def test_precision_bf16_ddp_fit(synth_cache, tmp_path):
    """bf16-mixed with 2-process DDP (gloo) through ``python train.py fit``: Lightning re-launches the same command
    line as rank 1; both ranks train in bf16 autocast, rank 0 writes the last epoch's checkpoint, metrics, plots
    and predictions of all 4 validation images (2 per rank)."""
    env = script_env(PRECISION_PROBE_DIR=str(tmp_path / "probe"), MASTER_PORT=str(free_port()))
    env["PYTHONPATH"] = f"{Path(__file__).parent}:{env['PYTHONPATH']}"
    args = ["fit", *tiny(synth_cache, "bf16-mixed"), PROBE, "--trainer.accelerator", "cpu", "--trainer.devices", "2",
            "--trainer.strategy", "ddp", "--data.init_args.batch_size", "2"]
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    check(proc, 0, proc.stdout + proc.stderr)
    check_fit(tmp_path / RUN / "logs" / "version_0", num_val=4)
    for rank in (0, 1):
        record = probe(tmp_path / "probe", "fit", rank)
        check_probe(record, ("train", "validate"), "bf16-mixed", fused=False)
