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
    assert shipped == set(FULL) | set(OVERLAYS)


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
