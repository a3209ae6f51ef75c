"""Through the console: ``fit --ckpt_path last`` resumes from the newest ``last.ckpt`` and keeps logging into the
same ``version_N`` (TensorBoard and CSV); ``test`` evaluates the test split only and writes ``predictions.json``."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

from run_helpers import REPO
from yolo12l.cli import main
from yolo12l.training.run_folder import find_last_checkpoint, run_version

QUICKSTART = REPO / "configs" / "quickstart.yaml"
COCO = REPO / "configs" / "coco.yaml"


def small(cache: Path, root: Path, epochs: int) -> list[str]:
    return ["--trainer.max_epochs", str(epochs), "--data.init_args.imgsz", "64", "--data.init_args.batch_size", "4",
            "--data.init_args.num_workers", "0", "--data.init_args.persistent_workers", "false",
            "--data.init_args.cache_dir", str(cache), "--trainer.default_root_dir", str(root),
            "--model.evaluation.save_plots", "false", "--model.summary_imgsz", "0"]


def quickstart(cache: Path, root: Path, epochs: int = 1) -> list[str]:
    return ["--config", str(QUICKSTART), "--data.init_args.num_train", "16", "--data.init_args.num_val", "8",
            *small(cache, root, epochs)]


def run(args: list[str], status: int = 0) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(args) == status
    return out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_ckpt_path_last_resumes_in_the_same_run_folder(synth_cache, tmp_path):
    root = tmp_path / "run"
    out, _ = run(["fit", *quickstart(synth_cache, root), "--ckpt_path", "last"])  # nothing to resume yet
    assert "WARNING: --ckpt_path last: no" in out and "starting from scratch" in out
    assert "train: 16 images, 60 boxes, 5/5 classes, 0 backgrounds, 0 skipped, 0 problems" in out  # per split
    assert "val: 8 images, 27 boxes, 5/5 classes" in out
    last = root / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    first = torch.load(last, map_location="cpu", weights_only=True)
    assert first["epoch"] == 0 and find_last_checkpoint(root) == last and run_version(last, root) == 0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, _ = run(["fit", *quickstart(synth_cache, root, epochs=2), "--ckpt_path", "last"])
    assert f"--ckpt_path last: resuming from {last}" in out
    assert not [w for w in caught if "exists and is not empty" in str(w.message)]  # its own folder: expected
    assert sorted(p.name for p in (root / "logs").iterdir()) == ["version_0"]  # no version_1
    assert sorted(p.name for p in (root / "csv").iterdir()) == ["version_0"]
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 1 and resumed["global_step"] > first["global_step"]
    rows = csv_rows(root / "csv" / "version_0" / "metrics.csv")
    val_epochs = [r["epoch"] for r in rows if r.get("val/mAP50-95")]
    assert val_epochs == ["0", "1"]  # the first run's rows kept, the resumed run's appended
    events = sorted((root / "logs" / "version_0").glob("events.out.tfevents.*"))
    assert len(events) == 2  # one per process, in the same TensorBoard run
    records = (root / "logs" / "version_0" / "val_metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == [0, 1]


def coco_args(cache: Path, root: Path, synthetic: Path, test: bool) -> list[str]:
    """configs/coco.yaml on the 16/8 synthetic set (its COCO files), the val images doubling as a test split."""
    args = ["--config", str(COCO), *small(cache, root, 1),
            "--data.init_args.train_annotations", str(synthetic / "annotations" / "instances_train.json"),
            "--data.init_args.train_images", str(synthetic / "images" / "train"),
            "--data.init_args.val_annotations", str(synthetic / "annotations" / "instances_val.json"),
            "--data.init_args.val_images", str(synthetic / "images" / "val")]
    if test:
        args += ["--data.init_args.test_annotations", str(synthetic / "annotations" / "instances_val.json"),
                 "--data.init_args.test_images", str(synthetic / "images" / "val")]
    return args


def synthetic_folder(cache: Path) -> Path:
    for params in sorted(cache.glob("synthetic/*/params.json")):
        p = json.loads(params.read_text())
        if (p["num_train"], p["num_val"]) == (16, 8):
            return params.parent
    raise FileNotFoundError(cache)


def test_test_command_uses_the_test_split_only(synth_cache, tmp_path):
    synthetic = synthetic_folder(synth_cache)
    root = tmp_path / "run"
    weights = tmp_path / "w.pt"
    from yolo12l.models import build_model

    torch.save(build_model("yolo12n.yaml", nc=5).state_dict(), weights)
    # no test split: one line, before any evaluation (test never falls back to val)
    _, err = run(["test", *coco_args(synth_cache, root, synthetic, test=False), "--model.weights", str(weights)],
                 status=2)
    line = err.strip().splitlines()[-1]
    assert line.startswith("yolo12l test: error: CocoDataModule has no test split: set "
                           "--data.init_args.test_annotations and test_images, or run `yolo12l validate`"), line
    assert not (root / "logs" / "version_0" / "predictions.json").exists()

    out, _ = run(["test", *coco_args(synth_cache, root, synthetic, test=True), "--model.weights", str(weights)])
    assert "test: 8 images, 27 boxes" in out and "test/mAP50-95" in out
    folders = sorted((root / "logs").iterdir())
    run_dir = folders[-1]
    assert (run_dir / "predictions.json").is_file() and not (run_dir / "test_predictions.json").exists()
    assert json.loads((run_dir / "test_metrics.jsonl").read_text())["num_images"] == 8
