"""Every model / data / trainer value out of range is one line through ``yolo12l fit`` (exit 2), before any model is
built or any data is generated; and every numeric argument of the module and the DataModules has a rule."""
from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

import yolo12l.config_checks as checks
from yolo12l.cli import main
from yolo12l.config_checks import DATA_RULES, MODEL_RULES, check_data_args, check_model_args
from yolo12l.data import DetectionDataModule, SyntheticDataModule
from yolo12l.errors import ConfigError
from yolo12l.training import YOLODetector
from yolo12l.training.config import GROUPS, OptimConfig

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--data.init_args.num_train", "4",
              "--data.init_args.num_val", "2"]


@pytest.fixture(autouse=True)
def _clean_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["yolo12l"])


@pytest.mark.parametrize("extra, expect", [
    (["--model.evaluation.conf_thres", "2"], "--model.evaluation.conf_thres 2.0: must be a number in [0, 1]"),
    (["--model.evaluation.map_backend", "foo"],
     "--model.evaluation.map_backend 'foo': must be one of pycocotools, faster_coco_eval"),
    (["--model.optim.lr0", "-0.01"], "--model.optim.lr0 -0.01: must be a number in (0, 1]"),
    (["--model.optim.lrf", "-1"], "--model.optim.lrf -1.0: must be a number in (0, 1]"),
    (["--model.optim.warmup_epochs", "-1"], "--model.optim.warmup_epochs -1.0: must be a number >= 0"),
    (["--model.evaluation.iou_thres", "1.5"], "--model.evaluation.iou_thres 1.5: must be a number in [0, 1]"),
    (["--model.evaluation.max_det", "-3"], "--model.evaluation.max_det -3: must be an integer >= 1"),
    (["--model.freeze", "-2"], "--model.freeze -2: must be null, a number of first layers >= 0"),
    (["--data.init_args.mosaic", "2"], "--data.init_args.mosaic 2.0: must be a number in [0, 1]"),
    (["--data.init_args.fliplr", "3"], "--data.init_args.fliplr 3.0: must be a number in [0, 1]"),
    (["--data.init_args.hsv_s", "-0.1"], "--data.init_args.hsv_s -0.1: must be a number in [0, 1]"),
    (["--data.init_args.close_mosaic", "-1"], "--data.init_args.close_mosaic -1: must be an integer >= 0"),
    (["--data.init_args.albumentations", '[{"name": "HorizontalFlip"}]'],
     "--data.init_args.albumentations[0] HorizontalFlip: moves pixels (a spatial transform)"),
    (["--data.init_args.albumentations", '[{"name": "Blur"}, {"name": "NoSuchBlur"}]'],
     "--data.init_args.albumentations[1] 'NoSuchBlur': not an albumentations transform"),
    (["--trainer.max_epochs", "-5"], "--trainer.max_epochs -5: must be an integer >= 1"),
    (["--trainer.accumulate_grad_batches", "4"],
     "--trainer.accumulate_grad_batches 4: the module accumulates gradients itself (the recipe's warmup ramp); "
     "set --model.optim.nominal_batch_size instead"),
    (["--trainer.gradient_clip_val", "1"],
     "--trainer.gradient_clip_val 1.0: the module clips gradients itself; set --model.optim.grad_clip_norm instead"),
])
def test_out_of_range_values_are_one_line_before_any_work(capsys, tmp_path, monkeypatch, extra, expect):
    built = []
    monkeypatch.setattr("yolo12l.training.module.build_model", lambda *a, **k: built.append(a))
    cache = tmp_path / "cache"
    args = ["fit", *QUICKSTART, "--trainer.default_root_dir", str(tmp_path / "run"), "--data.init_args.cache_dir",
            str(cache), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"yolo12l fit: error: {expect}"), line
    assert not built and not cache.exists() and not (tmp_path / "run").exists()  # no model, no data, no run folder


def test_ddp_config_without_a_gpu_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "_has_gpu", lambda: False)
    args = ["fit", *QUICKSTART, "--config", str(REPO / "configs" / "ddp.yaml"), "--trainer.default_root_dir",
            str(tmp_path), "--data.init_args.cache_dir", str(tmp_path / "cache")]
    assert main(args) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("yolo12l fit: error: --trainer.accelerator 'gpu': this machine has no GPU"), line
    assert "--trainer.accelerator cpu" in line and not (tmp_path / "cache").exists()


# arguments that are no range: names, paths, switches
NOT_RANGES = {"model", "scale", "class_names", "label_to_category_id", "weights", "cache_dir", "cache",
              "pin_memory", "persistent_workers", "predict_source", "rect_val",
              "seed", "size_range", "albumentations_light", "kwargs", "self",
              "slicing"}  # a SliceConfig: its fields have SLICE_RULES (test_slicing_fields_have_rules)


@pytest.mark.parametrize("cls, rules", [(YOLODetector, MODEL_RULES), (DetectionDataModule, DATA_RULES),
                                        (SyntheticDataModule, DATA_RULES)])
def test_every_setting_has_a_rule(cls, rules):
    names = set(inspect.signature(cls.__init__).parameters) - NOT_RANGES
    for group, config in GROUPS.items():  # YOLODetector's groups: a rule per field, by dotted key
        if group in names:
            names = names - {group} | {f"{group}.{f.name}" for f in dataclasses.fields(config)}
    assert names <= set(rules), names - set(rules)
    if rules is MODEL_RULES:  # and no rule for a value that is not there
        assert set(rules) <= names, set(rules) - names


def test_slicing_fields_have_rules(capsys, tmp_path):
    import dataclasses

    from yolo12l.config_checks import SLICE_RULES
    from yolo12l.inference.slicing import SliceConfig

    assert {f.name for f in dataclasses.fields(SliceConfig)} == set(SLICE_RULES)
    args = ["validate", *QUICKSTART, "--trainer.default_root_dir", str(tmp_path), "--data.init_args.cache_dir",
            str(tmp_path / "cache"), "--model.slicing.slice_size", "320", "--model.slicing.overlap", "2"]
    assert main(args) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("yolo12l validate: error: --model.slicing.overlap 2"), line
    assert not (tmp_path / "cache").exists()


def test_python_users_get_the_same_rules():
    with pytest.raises(ConfigError, match=r"^optim.lr0 5.0: must be a number in \(0, 1\]$"):
        YOLODetector(optim=OptimConfig(lr0=5.0))
    with pytest.raises(ConfigError, match=r"^mosaic 2: must be a number in \[0, 1\]$"):
        SyntheticDataModule(mosaic=2)
    check_model_args({"freeze": [0, 3], "evaluation": {"conf_thres": 0.0}, "optim": {"optimizer": "adamw"}})
    check_data_args({"imgsz": 64, "val_batch_size": None, "cache_images": "ram"})
    with pytest.raises(ConfigError, match="must be a number"):
        check_model_args({"loss": {"box": float("nan")}})
    with pytest.raises(ConfigError, match="integer"):
        check_data_args({"batch_size": True})
