"""Splits without a single box (a COCO JSON with ``annotations: []`` or without that key) are never trained on
silently: ``fit`` refuses them in one line, ``check-data`` warns; each split's one-line summary counts images, boxes,
classes, backgrounds and skipped images."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from yolo12l.cli import main
from yolo12l.data import CocoDataModule
from yolo12l.data.check import main as check_main

REPO = Path(__file__).resolve().parents[2]


def without_boxes(src: Path, dst: Path, drop_key: bool) -> Path:
    data = json.loads(src.read_text())
    if drop_key:
        del data["annotations"]
    else:
        data["annotations"] = []
    dst.write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("drop_key", [False, True], ids=["annotations-empty", "annotations-missing"])
def test_fit_refuses_a_training_split_without_boxes(synth, tmp_path, capsys, monkeypatch, drop_key):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    train = without_boxes(synth.train_annotations, tmp_path / "train.json", drop_key)
    args = ["fit", "--config", str(REPO / "configs" / "coco.yaml"), "--trainer.default_root_dir", str(tmp_path / "r"),
            "--data.init_args.train_annotations", str(train),
            "--data.init_args.train_images", str(synth.train_images),
            "--data.init_args.val_annotations", str(synth.val_annotations),
            "--data.init_args.val_images", str(synth.val_images),
            "--data.init_args.cache_dir", str(tmp_path / "cache"), "--data.init_args.imgsz", "64"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "yolo12l fit: error: the training split train.json has 16 images but not one box (empty or missing "
        "'annotations' / label files?): nothing to learn")
    assert not (tmp_path / "r" / "logs").exists()  # refused before the Trainer started


def test_check_data_warns_about_a_split_without_boxes(synth, tmp_path, capsys):
    ann = without_boxes(synth.val_annotations, tmp_path / "val.json", drop_key=False)
    assert check_main(["--format", "coco", "--annotations", str(ann), "--images", str(synth.val_images)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: 8 usable images, 0 boxes, 5 classes" in out and "OK:" not in out
    assert "WARNING: val.json: not one box in 8 images" in out and "`yolo12l fit` refuses" in out


def test_split_summary_line(synth, tmp_path, caplog):
    data = json.loads(Path(synth.train_annotations).read_text())
    first = data["images"][0]["id"]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != first]  # one background image
    data["images"].append({"id": 999, "file_name": "gone.jpg", "width": 10, "height": 10})  # one skipped
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(data))
    dm = CocoDataModule(ann, synth.train_images, ann, synth.train_images, cache=False, imgsz=64, num_workers=0)
    boxes = len(data["annotations"])
    line = dm.split("train").scan_line()
    assert line == f"16 images, {boxes} boxes, 5/5 classes, 1 backgrounds, 1 skipped, 1 problems (train.json)"
    with caplog.at_level("INFO", logger="yolo12l.data"):
        dm.setup("fit")
    assert f"train: {line}" in caplog.messages
