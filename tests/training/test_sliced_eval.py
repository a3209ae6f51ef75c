"""Sliced validation and config-form prediction through the console entry point (``yolo12l validate|predict
--config … --slice S``), with the real Ultralytics shapes checkpoint on a small tiny-objects set (512 x 512 images,
8-24 px objects; at imgsz 256 the whole image is seen at half size, a 192-px slice at 1.33x)."""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from run_helpers import REPO
from yolo12l.cli import main
from yolo12l.data.images import read_image
from yolo12l.inference.slicing import predict_sliced
from yolo12l.interop import load_network

CKPT = "yolo12n_shapes_ultralytics.pt"


def _base(cache: Path, root: Path, weights: Path) -> list[str]:
    return ["--config", str(REPO / "configs" / "quickstart.yaml"), "--data", "yolo12l.data.TinyObjectsDataModule",
            "--data.init_args.num_train", "1", "--data.init_args.num_val", "2", "--data.init_args.image_size",
            "[512, 512]", "--data.init_args.object_size", "[8, 24]", "--data.init_args.num_objects", "[20, 30]",
            "--data.init_args.imgsz", "256", "--data.init_args.cache_dir", str(cache),
            "--data.init_args.num_workers", "0", "--data.init_args.persistent_workers", "false",
            "--model.weights", str(weights), "--trainer.default_root_dir", str(root)]


def _cli(args: list[str], expect: int = 0) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == expect
    return out.getvalue()


def _record(root: Path, version: int) -> dict:
    return json.loads((root / "logs" / f"version_{version}" / "val_metrics.jsonl").read_text().splitlines()[-1])


@pytest.fixture(scope="module")
def validated(reference_dir, tmp_path_factory):
    """validate whole-image, then sliced (NMS merge), into one run root."""
    tmp = tmp_path_factory.mktemp("sliced_eval")
    cache, root = tmp / "cache", tmp / "runs"
    base = _base(cache, root, reference_dir / CKPT)
    argv0 = sys.argv
    sys.argv = ["yolo12l"]
    try:
        _cli(["validate", *base])
        _cli(["validate", *base, "--slice", "192", "--overlap", "0.25", "--merge", "nms"])
    finally:
        sys.argv = argv0
    val = next(cache.glob("synthetic/tiny-*/annotations/instances_val.json"))
    return {"base": base, "root": root, "cache": cache, "val_json": val, "full": _record(root, 0),
            "sliced": _record(root, 1)}


def test_sliced_validation_beats_full_image_and_reports_sizes(validated):
    full, sliced = validated["full"], validated["sliced"]
    assert full["num_images"] == sliced["num_images"] == 2
    for key in ("mAP_small", "mAP_medium", "mAP_large"):
        assert key in sliced
    # the objects are 8-24 px: at half size most are missed; slices see them at 1.33x
    assert sliced["mAP50-95"] > 2 * full["mAP50-95"], (full, sliced)
    assert sliced["mAP_small"] > full["mAP_small"]


def test_sliced_validation_equals_pycocotools_on_original_pixels(validated):
    """AP_small / medium / large by object area in ORIGINAL pixels: pycocotools on the generated annotation file
    and the run's predictions.json gives the logged numbers."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(validated["val_json"]))
        dt = gt.loadRes(str(validated["root"] / "logs" / "version_1" / "predictions.json"))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    rec = validated["sliced"]
    for i, key in ((0, "mAP50-95"), (1, "mAP50"), (3, "mAP_small"), (4, "mAP_medium"), (5, "mAP_large")):
        assert rec[key] == pytest.approx(ev.stats[i], abs=1e-6), key


def test_sliced_validation_detections_are_predict_sliced_on_the_originals(validated, reference_dir):
    """The module's sliced path is predict_sliced on the decoded originals (not the letterboxed batch)."""
    net, _ = load_network(reference_dir / CKPT)
    net = net.float().eval().fuse()
    preds = json.loads((validated["root"] / "logs" / "version_1" / "predictions.json").read_text())
    gt = json.loads(validated["val_json"].read_text())
    image = gt["images"][0]
    files = next(validated["cache"].glob("synthetic/tiny-*/images/val"))
    original = read_image(files / image["file_name"])
    assert original.shape[:2] == (image["height"], image["width"]) == (512, 512)
    det = predict_sliced(net, [original], imgsz=256, slice_size=192, overlap=0.25, conf=0.001, iou=0.7,
                         merge="nms", max_det=300)[0]
    ours = sorted((p for p in preds if p["image_id"] == image["id"]), key=lambda p: -p["score"])
    assert len(ours) == det.shape[0] > 0
    xywh = det[:, :4].clone()
    xywh[:, 2:] -= xywh[:, :2]
    np.testing.assert_allclose(np.array([p["bbox"] for p in ours]), xywh.numpy(), atol=2e-3)
    np.testing.assert_allclose([p["score"] for p in ours], det[:, 4].numpy(), atol=1e-5)


def test_config_form_predict_slices_as_the_weights_form(validated, reference_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    root = validated["root"]
    out = _cli(["predict", *validated["base"], "--slice", "192", "--overlap", "0.25"])
    assert "error" not in out
    files = next(validated["cache"].glob("synthetic/tiny-*/images/val"))
    _cli(["predict", "--weights", str(reference_dir / CKPT), "--source", str(files), "--imgsz", "256", "--slice",
          "192", "--overlap", "0.25", "--out", str(tmp_path / "w"), "--quiet"])
    config_form = json.loads((root / "predict" / "predictions.json").read_text())
    weights_form = json.loads((tmp_path / "w" / "predictions.json").read_text())
    assert len(config_form) == len(weights_form) > 0
    # the config form maps classes to the COCO file's ids (1..3); its fused copy of the network is channels-last,
    # so coordinates may differ in the last printed digit
    for a, b in zip(config_form, weights_form):
        assert a["category_id"] == b["category_id"] + 1
        assert (a["image_id"], a["file_name"]) == (b["image_id"], b["file_name"])
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=1e-3)
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert sorted(p.name for p in (root / "predict" / "images").iterdir()) == sorted(p.name for p in files.iterdir())


@pytest.mark.parametrize("extra,message", [
    (["--slice", "16"], "invalid --slice 16: must be an integer >= 32"),
    (["--slice", "320", "--overlap", "1"], "invalid --overlap 1.0: must be a number in [0, 1)"),
    (["--merge", "nms"], "invalid --merge: it sets sliced inference, which needs --slice S"),
    (["--slice", "320", "--match-metric", "giou"], "invalid --match-metric 'giou': must be one of ios, iou"),
])
def test_bad_slicing_options_are_one_line(extra, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    missing = tmp_path / "nothing_is_loaded.pt"  # the check comes before any weights or data are read
    assert main(["validate", *_base(tmp_path / "cache", tmp_path / "runs", missing), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"yolo12l validate: error: {message}"), err
    assert not (tmp_path / "cache").exists()
