"""YOLODetector's grouped arguments (``optim`` / ``loss`` / ``evaluation``) through the console commands: grouped keys
on the command line and in config files, one-line errors for the old flat keys, checkpoints with flat
``hyper_parameters`` (written before the grouping) in every reader, and plain hyper-parameters in new checkpoints."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from yolo12l.cli import main
from yolo12l.interop import load_network
from yolo12l.training import YOLODetector
from yolo12l.training.config import GROUPS, MOVED, EvalConfig, LossConfig, OptimConfig, group_flat_keys
from yolo12l.training.lightning_cli import lightning_main

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.yaml"


def tiny(cache: Path, root: Path) -> list[str]:
    return ["--config", str(QUICKSTART), "--trainer.max_epochs", "1", "--data.init_args.num_train", "16",
            "--data.init_args.num_val", "8", "--data.init_args.imgsz", "64", "--data.init_args.batch_size", "8",
            "--data.init_args.num_workers", "0", "--data.init_args.persistent_workers", "false",
            "--data.init_args.cache_dir", str(cache), "--trainer.default_root_dir", str(root),
            "--model.evaluation.save_plots", "false", "--model.summary_imgsz", "0"]


def quiet_main(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


def plain(value) -> bool:
    """Only what ``torch.load(weights_only=True)`` reads back as it was: containers of primitives."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.fixture(autouse=True)
def _argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])


# ------------------------------------------------------------------------------------------ grouped keys
def test_grouped_keys_on_the_command_line_and_in_a_config_file(synth_cache, tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("model:\n  optim: {optimizer: SGD, lr0: 0.03}\n  loss: {cls: 0.7}\n"
                       "  evaluation: {iou_thres: 0.6}\n")
    args = [*tiny(synth_cache, tmp_path / "run"), "--config", str(overlay), "--model.optim.lr0", "0.02",
            "--model.loss.box", "6.5", "--model.evaluation.conf_thres", "0.01"]
    cli = lightning_main(args, run=False)  # parsed and built (model, data, trainer) by the LightningCLI, not run
    model = cli.model
    assert model.optim == OptimConfig(optimizer="SGD", lr0=0.02, warmup_epochs=1.0, nominal_batch_size=16)
    assert model.loss == LossConfig(box=6.5, cls=0.7)
    assert model.evaluation == EvalConfig(conf_thres=0.01, iou_thres=0.6, save_plots=False)
    assert model.criterion.gains == {"box": 6.5, "cls": 0.7, "dfl": 1.5}
    for name in GROUPS:  # hparams (what checkpoints and loggers get): the groups as plain dicts
        assert type(model.hparams[name]) is dict and model.hparams[name] == dataclasses.asdict(getattr(model, name))


def test_python_users_group_the_same_way():
    model = YOLODetector(num_classes=3, summary_imgsz=0, optim={"lr0": 0.02}, loss=LossConfig(dfl=1.0))
    assert model.optim.lr0 == 0.02 and model.loss.dfl == 1.0 and model.evaluation == EvalConfig()
    assert model.hparams["optim"]["lr0"] == 0.02 and plain(dict(model.hparams))
    assert plain(dict(model.hparams_initial))  # what the loggers get


@pytest.mark.parametrize("given, old, new", [
    (["--model.lr0", "0.02"], "--model.lr0", "--model.optim.lr0"),
    (["--model.box=6.0"], "--model.box", "--model.loss.box"),
    (["--model.conf_thres", "0.01"], "--model.conf_thres", "--model.evaluation.conf_thres"),
])
@pytest.mark.parametrize("command", ["fit", "validate"])
def test_old_key_on_the_command_line_is_one_line(capsys, tmp_path, monkeypatch, command, given, old, new):
    built = []
    monkeypatch.setattr("yolo12l.training.module.build_model", lambda *a, **k: built.append(a))
    assert main([command, *tiny(tmp_path / "cache", tmp_path / "run"), *given]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"yolo12l {command}: error: {old} moved: use {new}"
    assert not built and not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_old_key_in_a_config_file_is_one_line(capsys, tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr("yolo12l.training.module.build_model", lambda *a, **k: built.append(a))
    old = tmp_path / "old.yaml"
    old.write_text("model:\n  model: yolo12n.yaml\n  lr0: 0.02\n")
    assert main(["fit", *tiny(tmp_path / "cache", tmp_path / "run"), "--config", str(old)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"yolo12l fit: error: --model.lr0 moved: use --model.optim.lr0 (in {old})", line
    assert not built and not (tmp_path / "cache").exists()


def test_old_key_in_a_model_file_and_a_tune_space_is_one_line(capsys, tmp_path):
    section = tmp_path / "model.yaml"  # --model FILE: the model section itself
    section.write_text("model: yolo12n.yaml\nsave_json: false\n")
    assert main(["fit", *tiny(tmp_path / "cache", tmp_path / "run"), "--model", str(section)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"yolo12l fit: error: --model.save_json moved: use --model.evaluation.save_json (in {section})"
    tune = tmp_path / "tune.yaml"
    tune.write_text(f"base: {QUICKSTART}\nspace:\n  model.lr0: {{low: 0.001, high: 0.01}}\n")
    assert main(["tune", "--config", str(tune), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"yolo12l tune: error: {tune}: 'space': model.lr0 moved: use model.optim.lr0"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_one_table_of_moved_keys():
    assert MOVED == {f: g for g, cls in GROUPS.items() for f in cls.__dataclass_fields__}
    assert len(MOVED) == 13 + 3 + 7
    flat = {"model": "yolo12n.yaml", "num_classes": 3, "lr0": 0.02, "box": 6.0, "predict_conf": 0.5}
    assert group_flat_keys(flat) == {"model": "yolo12n.yaml", "num_classes": 3, "optim": {"lr0": 0.02},
                                     "loss": {"box": 6.0}, "evaluation": {"predict_conf": 0.5}}
    grouped = group_flat_keys(flat)
    assert group_flat_keys(grouped) == grouped


# ------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoints(synth_cache, tmp_path_factory):
    """(a new checkpoint of a 1-epoch fit with SGD lr0 0.02 and loss.box 6.5, the same checkpoint with its
    hyper-parameters flattened as yolo12l wrote them before the grouping, the fit's arguments)."""
    root = tmp_path_factory.mktemp("module-config")
    args = [*tiny(synth_cache, root / "run"), "--model.optim.optimizer", "SGD", "--model.optim.lr0", "0.02",
            "--model.loss.box", "6.5"]
    argv = sys.argv
    sys.argv = ["yolo12l"]
    try:
        quiet_main(["fit", *args])
    finally:
        sys.argv = argv
    new = root / "run" / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(new, map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    ckpt["hyper_parameters"] = {**{k: v for k, v in hp.items() if k not in GROUPS},
                                **{k: v for g in GROUPS for k, v in hp[g].items()}}
    flat = root / "flat.ckpt"
    torch.save(ckpt, flat)
    return new, flat, args


def test_new_checkpoints_hold_plain_hyper_parameters(checkpoints):
    new, _, _ = checkpoints
    ckpt = torch.load(new, map_location="cpu", weights_only=True)  # no pickled objects
    hp = ckpt["hyper_parameters"]
    assert plain(hp) and not set(hp) & set(MOVED)
    assert hp["optim"]["optimizer"] == "SGD" and hp["optim"]["lr0"] == 0.02 and hp["loss"]["box"] == 6.5
    assert set(hp["evaluation"]) == set(EvalConfig.__dataclass_fields__)


def test_flat_checkpoint_loads_in_predict_info_and_export(checkpoints, synth_cache, tmp_path):
    new, flat, _ = checkpoints
    assert "lr0" in torch.load(flat, weights_only=True)["hyper_parameters"]
    (net_new, _), (net_flat, info) = load_network(new), load_network(flat)
    assert info["format"] == "lightning" and info["nc"] == 5 and info["imgsz"] == 64
    assert all(torch.equal(a, b) for a, b in zip(net_new.state_dict().values(), net_flat.state_dict().values()))
    images = next(synth_cache.glob("synthetic/*/images/val"))
    for name, ckpt in (("new", new), ("flat", flat)):
        quiet_main(["predict", "--weights", str(ckpt), "--source", str(images), "--conf", "0", "--out",
                    str(tmp_path / name), "--quiet"])
    assert (tmp_path / "flat" / "predictions.json").read_bytes() == (tmp_path / "new" / "predictions.json").read_bytes()
    assert json.loads((tmp_path / "flat" / "predictions.json").read_text())
    out = quiet_main(["info", "--model", str(flat), "--quiet"])
    assert "flat.ckpt (lightning checkpoint)" in out and "trained at 64" in out
    quiet_main(["export", "--weights", str(flat), "--out", str(tmp_path / "flat.onnx")])
    assert (tmp_path / "flat.onnx").stat().st_size > 1_000_000


def test_load_from_checkpoint_keeps_a_flat_checkpoints_recipe(checkpoints):
    """Lightning's ``load_from_checkpoint`` would drop the flat keys (and silently train with the defaults): the
    flat checkpoint's SGD lr0 0.02 / box 6.5 come back grouped, as from the new checkpoint; arguments still win."""
    new, flat, _ = checkpoints
    for path in (new, flat):
        m = YOLODetector.load_from_checkpoint(path, map_location="cpu")
        assert (m.optim.optimizer, m.optim.lr0, m.loss.box, m.criterion.gains["box"]) == ("SGD", 0.02, 6.5, 6.5), path
    m = YOLODetector.load_from_checkpoint(flat, map_location="cpu", loss={"box": 7.0})
    assert m.loss.box == 7.0 and m.optim.lr0 == 0.02


def test_flat_checkpoint_resumes_with_its_recipe(checkpoints, tmp_path):
    """fit --ckpt_path of a flat checkpoint: LightningCLI re-reads its hyper-parameters (grouped on the way), so the
    resumed run trains with the checkpoint's SGD lr0 0.02 / box 6.5, which this command line does not give."""
    _, flat, args = checkpoints
    root = tmp_path / "resumed"
    resume = [a for a in args if a not in ("--model.optim.optimizer", "SGD", "--model.optim.lr0", "0.02",
                                           "--model.loss.box", "6.5")]
    resume[resume.index("--trainer.default_root_dir") + 1] = str(root)
    resume[resume.index("--trainer.max_epochs") + 1] = "2"
    quiet_main(["fit", *resume, "--ckpt_path", str(flat)])
    config = yaml.safe_load((root / "logs" / "version_0" / "config.yaml").read_text())
    assert config["model"]["optim"]["optimizer"] == "SGD" and config["model"]["optim"]["lr0"] == 0.02
    assert config["model"]["loss"]["box"] == 6.5
    last = torch.load(root / "logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and last["hyper_parameters"]["optim"]["lr0"] == 0.02
    assert plain(last["hyper_parameters"])
