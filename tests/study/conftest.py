"""A tiny study on ../shared/datasets/shapes_tiny: yolo12n variants fine-tuned from the Ultralytics shapes
checkpoint (so two epochs give non-zero, seed-dependent mAP), 64 px, two epochs, no loader workers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def fit_overrides(datasets: Path, reference: Path, epochs: int = 2) -> dict:
    return {"data.init_args.data_yaml": str(datasets / "shapes_tiny" / "data.yaml"),
            "model.weights": str(reference / "yolo12n_shapes_ultralytics.pt"),
            "data.init_args.imgsz": 64, "data.init_args.batch_size": 16, "data.init_args.num_workers": 0,
            "data.init_args.persistent_workers": False, "data.init_args.pin_memory": False,
            "model.nominal_batch_size": 16, "model.warmup_epochs": 0, "model.save_plots": False,
            "trainer.max_epochs": epochs, "trainer.accelerator": "cpu", "trainer.enable_model_summary": False}


@pytest.fixture
def make_study(tmp_path, datasets_dir, reference_dir):
    """Writes a study YAML in tmp_path; returns its path."""
    def make(variants: dict, seeds: list[int], epochs: int = 2, name: str = "study.yaml") -> Path:
        study = {"base": str(REPO / "configs" / "yolo-format.yaml"), "variants": variants, "seeds": seeds,
                 "overrides": fit_overrides(datasets_dir, reference_dir, epochs), "out": str(tmp_path / "out"),
                 "latency": {"imgsz": 64, "warmup": 1, "runs": 2}}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        return path
    return make


def command_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def yolo12l(*args: str, cwd: Path) -> subprocess.Popen:
    """``yolo12l <args>`` as a subprocess of this checkout (output captured, text)."""
    return subprocess.Popen([sys.executable, "-m", "yolo12l.cli", *args], cwd=cwd, env=command_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
