"""Every shipped config parses through the LightningCLI (``--print_config``), alone or as an overlay."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from yolo12l.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FULL = ["quickstart.yaml", "coco.yaml", "voc.yaml", "yolo-format.yaml"]
OVERLAYS = sorted(p.relative_to(CONFIGS).as_posix() for p in (CONFIGS / "models").glob("*.yaml")) + [
    "ddp.yaml", "multinode.yaml"]
STUDIES = ["studies/halo-vs-yolo12.yaml", "studies/tune-shapes.yaml"]  # yolo12l compare / tune configs


@pytest.fixture(autouse=True)
def _clean_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["yolo12l"])


def print_config(*configs: str) -> dict:
    args = ["fit"]
    for c in configs:
        args += ["--config", str(CONFIGS / c)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args + ["--print_config"]) == 0
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("config", FULL)
def test_full_config_parses(config):
    cfg = print_config(config)
    assert cfg["model"]["model"] == "yolo12n.yaml"
    assert cfg["data"]["class_path"].startswith("yolo12l.data.")
    assert any("ModelEMA" in c["class_path"] for c in cfg["trainer"]["callbacks"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_parses_on_quickstart(overlay):
    cfg = print_config("quickstart.yaml", overlay)
    want = yaml.safe_load((CONFIGS / overlay).read_text())
    for section, values in want.items():
        for key, value in values.items():
            assert cfg[section][key] == value, (section, key)


def test_all_configs_are_covered():
    shipped = {p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml")}
    assert shipped == set(FULL) | set(OVERLAYS) | set(STUDIES)


@pytest.mark.parametrize("config", STUDIES)
def test_study_configs_resolve(config, tmp_path):
    """Every variant's (or trial's) fit config of the shipped study / tune YAMLs passes the fit parser."""
    from yolo12l.study.config import load_study_config
    from yolo12l.study.runner import resolve_fit_config
    from yolo12l.study.tune import TuneConfig

    if "tune" in config:
        cfg = TuneConfig(CONFIGS / config)
        runs = [{**cfg.overrides, **{k: s["choices"][0] if "choices" in s else s["low"] for k, s in cfg.space.items()}}]
    else:
        cfg = load_study_config(CONFIGS / config)
        runs = [cfg.run_overrides(v) for v in cfg.variants]
    assert cfg.base == [(CONFIGS / "yolo-format.yaml").resolve()]
    for overrides in runs:
        resolved = resolve_fit_config(cfg.base, overrides, 0, tmp_path)
        assert resolved["trainer"]["max_epochs"] == 2 and resolved["seed_everything"] == 0
        assert resolved["data"]["init_args"]["data_yaml"].endswith("shapes_tiny/data.yaml")


@pytest.mark.parametrize("config", FULL)
def test_configs_hard_code_no_run_paths(config):
    """Logs, checkpoints and predictions follow ``--trainer.default_root_dir``: no config names their folders."""
    cfg = yaml.safe_load((CONFIGS / config).read_text())
    assert "logger" not in cfg["trainer"]
    for cb in cfg["trainer"]["callbacks"]:
        assert not {"save_dir", "output_dir", "dirpath"} & set(cb.get("init_args") or {}), cb


@pytest.mark.parametrize("config", ["coco.yaml", "voc.yaml", "ddp.yaml", "multinode.yaml"])
def test_gpu_recipes_train_in_mixed_precision(config):
    """The GPU-sized recipes and overlays train in bf16 mixed precision (Ultralytics' amp=True), and say so."""
    text = (CONFIGS / config).read_text()
    assert yaml.safe_load(text)["trainer"]["precision"] == "bf16-mixed"
    assert config in ("ddp.yaml", "multinode.yaml") or "amp=True" in text
