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
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main(args + ["--print_config"])
    assert exit_info.value.code in (0, None)
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
