"""End to end through the LightningCLI with configs/quickstart.yaml, shrunk by command-line overrides.

The base model goes through ``python train.py`` in subprocesses (fit → validate → predict with the produced
checkpoint); the Halo and DTAB variants through :func:`yolo12l.cli.main` in-process (same code path, no interpreter
start-up). Every run works in a temporary folder: the config's relative ``runs/quickstart`` paths land there.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch
import yaml

from run_helpers import REPO, check, script_env
from yolo12l.cli import main
from yolo12l.data import SHAPE_CLASSES

QUICKSTART = REPO / "configs" / "quickstart.yaml"
RUN_DIR = Path("runs/quickstart/logs")


def overrides(cache: Path) -> list[str]:
    return ["--trainer.max_epochs", "1", "--data.init_args.num_train", "16", "--data.init_args.num_val", "8",
            "--data.init_args.imgsz", "64", "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
            "--data.init_args.persistent_workers", "false", "--data.init_args.cache_dir", str(cache)]


def val_images(cache: Path) -> Path:
    """The val image folder of the 16/8 synthetic dataset in ``cache``."""
    for params in sorted(cache.glob("synthetic/*/params.json")):
        p = json.loads(params.read_text())
        if (p["num_train"], p["num_val"]) == (16, 8):
            return params.parent / "images" / "val"
    raise FileNotFoundError(cache)


def cli_subprocess(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=script_env(),
                          capture_output=True, text=True, timeout=240)
    check(proc, 0, proc.stdout + proc.stderr)
    return proc.stdout + proc.stderr


def cli_inprocess(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


def check_fit_run(cwd: Path, model_yaml: str, run_dir: Path = RUN_DIR) -> Path:
    """The fit's run folder: resolved config, checkpoints with the linked class info, validation record."""
    run = cwd / run_dir / "version_0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["model"] == model_yaml and config["trainer"]["max_epochs"] == 1
    assert config["data"]["init_args"]["num_train"] == 16 and config["data"]["init_args"]["imgsz"] == 64
    assert config["seed_everything"] == 0
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file() and (run / "checkpoints" / "best-epoch=000.ckpt").is_file()
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["model"] == model_yaml and hp["num_classes"] == 5 and hp["class_names"] == list(SHAPE_CLASSES)
    assert hp["label_to_category_id"] == [1, 2, 3, 4, 5]
    # 4 batches of 4 accumulate towards the nominal 64: Lightning steps once, at the end of the epoch
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())
    records = [json.loads(line) for line in (run / "val_metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["num_images"] == 8
    return last


def check_predictions(cwd: Path, images: Path, out: Path | None = None) -> None:
    out = out or cwd / "runs" / "quickstart" / "predict"
    preds = json.loads((out / "predictions.json").read_text())
    files = sorted(p.name for p in images.iterdir())
    assert sorted({p["file_name"] for p in preds}) == files  # predict_conf 0: every image has detections
    sizes = {f: cv2.imread(str(images / f)).shape[1::-1] for f in files}  # (w, h)
    for p in preds:
        x, y, bw, bh = p["bbox"]
        w, h = sizes[p["file_name"]]
        assert p["category_id"] in (1, 2, 3, 4, 5) and 0 <= p["score"] <= 1
        assert bw >= 0 and bh >= 0 and x >= -0.01 and y >= -0.01 and x + bw <= w + 0.01 and y + bh <= h + 0.01
    assert sorted(p.name for p in (out / "images").iterdir()) == files


def test_train_py_fit_validate_predict(synth_cache, tmp_path, monkeypatch):
    base = ["--config", str(QUICKSTART), *overrides(synth_cache)]
    out = cli_subprocess(["fit", *base], tmp_path)
    # not a terminal: no progress-bar redraws, one summary line per epoch, no LightningCLI args warning
    assert "\r" not in out and "args parameter" not in out and "litlogger" not in out
    assert re.search(r"^epoch +1/1  box [\d.]+  cls [\d.]+  dfl [\d.]+  val mAP50-95 [\d.]+  mAP50 [\d.]+  "
                     r"[\d.]+ s$", out, re.M), out
    last = check_fit_run(tmp_path, "yolo12n.yaml")
    fit_record = json.loads((tmp_path / RUN_DIR / "version_0" / "val_metrics.jsonl").read_text())

    # validate and predict in-process (same code path as the console; the subprocess start-up is the fit's)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    out = cli_inprocess(["validate", *base, "--ckpt_path", str(last)])
    assert "val/mAP50-95" in out
    record = json.loads((tmp_path / RUN_DIR / "version_1" / "val_metrics.jsonl").read_text())
    assert record["num_images"] == 8
    # the checkpoint's state_dict holds the EMA weights the fit validated with: same numbers
    for key in ("mAP50-95", "mAP50", "mAP75"):
        assert record[key] == pytest.approx(fit_record[key], abs=1e-12)

    cli_inprocess(["predict", *base, "--ckpt_path", str(last), "--model.evaluation.predict_conf", "0.0",
                   "--data.init_args.predict_source", str(val_images(synth_cache))])
    check_predictions(tmp_path, val_images(synth_cache))

    # the other form of predict: the same predictions.json bytes, at the checkpoint's training size (64) by default
    out = cli_inprocess(["predict", "--weights", str(last), "--source", str(val_images(synth_cache)), "--conf", "0",
                         "--out", str(tmp_path / "weights_form"), "--quiet"])
    assert "at shape (1, 3, 64, 64)" in out, out
    config_form = tmp_path / "runs" / "quickstart" / "predict"
    assert (tmp_path / "weights_form" / "predictions.json").read_bytes() == \
        (config_form / "predictions.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "weights_form").glob("*.jpg")) == \
        sorted(p.name for p in (config_form / "images").iterdir())
    # a second run writes predict2, as predict --weights numbers runs/predict: the first run's files are kept
    first = (config_form / "predictions.json").stat().st_mtime_ns
    cli_inprocess(["predict", *base, "--ckpt_path", str(last), "--model.evaluation.predict_conf", "0.0",
                   "--data.init_args.predict_source", str(val_images(synth_cache))])
    assert (config_form / "predictions.json").stat().st_mtime_ns == first
    assert (config_form.with_name("predict2") / "predictions.json").read_bytes() == \
        (config_form / "predictions.json").read_bytes()


@pytest.mark.parametrize("model_yaml", ["yolo12n-halo.yaml", "yolo12n-dtab.yaml", "yolo12n-p2.yaml"])
def test_cli_variants_fit_validate_predict(synth_cache, tmp_path, monkeypatch, model_yaml):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    root = tmp_path / "elsewhere"  # --trainer.default_root_dir moves the whole run: logs, checkpoints, predictions
    base = ["--config", str(QUICKSTART), *overrides(synth_cache), "--model.model", model_yaml,
            "--trainer.default_root_dir", str(root)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["fit", *base, "--print_config"]) == 0
    cli_inprocess(["fit", *base])
    run = root / "logs" / "version_0"
    last = check_fit_run(root, model_yaml, run_dir=Path("logs"))
    assert (run / "plots").is_dir() and (root / "csv" / "version_0" / "metrics.csv").is_file()
    # --print_config shows exactly the configuration the fit saved next to its checkpoints
    assert yaml.safe_load(printed.getvalue()) == yaml.safe_load((run / "config.yaml").read_text())
    cli_inprocess(["validate", *base, "--ckpt_path", str(last)])
    assert json.loads((root / "logs" / "version_1" / "val_metrics.jsonl").read_text())["num_images"] == 8
    cli_inprocess(["predict", *base, "--ckpt_path", str(last), "--model.evaluation.predict_conf", "0.0",
                   "--data.init_args.predict_source", str(val_images(synth_cache))])
    check_predictions(root, val_images(synth_cache), out=root / "predict")
    assert not list((tmp_path / "cwd").iterdir())  # nothing written where the command ran


def test_ckpt_path_of_another_kind_is_one_line(synth_cache, reference_dir, tmp_path, monkeypatch, capsys):
    """validate --ckpt_path <an Ultralytics .pt> says --model.weights; a 3-class checkpoint on the 5-class
    quickstart config is one line (not ~100 of size mismatches)."""
    from yolo12l.interop import read_ultralytics_checkpoint

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    base = ["--config", str(QUICKSTART), *overrides(synth_cache)]
    pt = reference_dir / "yolo12n_shapes_ultralytics.pt"
    assert main(["validate", *base, "--ckpt_path", str(pt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"yolo12l validate: error: invalid --ckpt_path {pt}: not a yolo12l Lightning checkpoint (an "
                       f"Ultralytics / YOLOv12 .pt or a state dict?); use --model.weights {pt} to start from its "
                       "weights"), err
    sd = read_ultralytics_checkpoint(pt).state_dict
    three = tmp_path / "three.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in sd.items()}, "epoch": 0, "global_step": 0,
                "pytorch-lightning_version": "2.5.0",
                "hyper_parameters": {"model": "yolo12n.yaml", "num_classes": 3, "class_names": ["a", "b", "c"]}},
               three)
    assert main(["validate", *base, "--ckpt_path", str(three)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("yolo12l validate: error: the checkpoint (--ckpt_path) has 3 classes, the configured "
                              "model 5"), err
    assert not any("Traceback" in line or "size mismatch" in line for line in err)
