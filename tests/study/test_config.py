"""The study YAML: keys, checks, and mistakes reported as one line by ``yolo12l compare`` before anything runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from yolo12l.cli import main
from yolo12l.errors import ConfigError
from yolo12l.study.config import load_study_config, override_args

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


def test_study_config_resolves_and_orders(tmp_path):
    (tmp_path / "fit.yaml").write_text("trainer: {max_epochs: 1}\n")
    cfg = load_study_config(write(tmp_path, "base: fit.yaml\nvariants: {b: {model.model: yolo12n-halo.yaml}, a: {}}\n"
                                            "seeds: [3, 1]\noverrides: {trainer.max_epochs: 2}\n"))
    assert cfg.base == [(tmp_path / "fit.yaml").resolve()]  # relative to the study file
    assert cfg.baseline == "b" and cfg.grid() == [("b", 3), ("b", 1), ("a", 3), ("a", 1)]
    assert cfg.run_overrides("b") == {"trainer.max_epochs": 2, "model.model": "yolo12n-halo.yaml"}
    assert cfg.out == Path("out")


def test_override_args_for_lightning_cli():
    assert override_args({"model.optim.lr0": 0.01, "data.init_args.mosaic": False, "model.weights": None,
                          "trainer.devices": [0, 1]}) == [
        "--model.optim.lr0", "0.01", "--data.init_args.mosaic", "false", "--model.weights", "null",
        "--trainer.devices", "[0, 1]"]


@pytest.mark.parametrize("text, message", [
    ("variants: {a: {}}\n", "missing key 'base'"),
    ("base: nope.yaml\nvariants: {a: {}}\n", "base config nope.yaml not found"),
    ("base: {fit}\nvariants: {}\n", "'variants' must map variant names"),
    ("base: {fit}\nvariants: {a: {}}\nseeds: [1, 1]\n", "'seeds' must be a list of distinct integers"),
    ("base: {fit}\nvariants: {'a b': {}}\n", "variant name 'a b'"),
    ("base: {fit}\nvariants: {a: [1]}\n", "variant 'a' must map dotted keys"),
    ("base: {fit}\nvariants: {a: {}}\nseed: [1]\n", "unknown key(s) ['seed']"),
    ("base: {fit}\nvariants: {a: {}}\nlatency: {imgsz: 100}\n", "latency.imgsz must be a positive multiple of 32"),
    ("base: {fit}\nvariants: {a: {model.no_such_argument: 1}}\n", "no_such_argument"),
    ("base: {fit}\nvariants: {a: {model.lr0: 0.02}}\n", "variant 'a': model.lr0 moved: use model.optim.lr0"),
    ("base: {fit}\nvariants: {a: {}}\noverrides: {model.save_plots: false}\n",
     "'overrides': model.save_plots moved: use model.evaluation.save_plots"),
    ("base: {fit}\nvariants: {a: {}}\n  bad: [\n", "malformed YAML"),
])
def test_compare_mistakes_are_one_line(tmp_path, capsys, text, message):
    study = write(tmp_path, text.replace("{fit}", str(REPO / "configs" / "quickstart.yaml")))
    assert main(["compare", "--config", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("yolo12l compare: error: ") and message in err[0], err
    assert not (tmp_path / "out" / "runs").exists()  # nothing ran


def test_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: study config not found"):
        load_study_config(tmp_path / "missing.yaml")
