"""Helpers of the study tests (a module of their own: every test folder has a ``conftest``).

The tiny study's fits run on ../shared/datasets/shapes_tiny, fine-tuned from the Ultralytics shapes checkpoint (so
two epochs give non-zero, seed-dependent mAP), 64 px, no loader workers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fit_overrides(datasets: Path, reference: Path, epochs: int = 2) -> dict:
    return {"data.init_args.data_yaml": str(datasets / "shapes_tiny" / "data.yaml"),
            "model.weights": str(reference / "yolo12n_shapes_ultralytics.pt"),
            "data.init_args.imgsz": 64, "data.init_args.batch_size": 16, "data.init_args.num_workers": 0,
            "data.init_args.persistent_workers": False, "data.init_args.pin_memory": False,
            "model.optim.nominal_batch_size": 16, "model.optim.warmup_epochs": 0, "model.evaluation.save_plots": False,
            "trainer.max_epochs": epochs, "trainer.accelerator": "cpu", "trainer.enable_model_summary": False}


def command_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def yolo12l(*args: str, cwd: Path) -> subprocess.Popen:
    """``yolo12l <args>`` as a subprocess of this checkout (output captured, text)."""
    return subprocess.Popen([sys.executable, "-m", "yolo12l.cli", *args], cwd=cwd, env=command_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
