"""Fine-tuning through the console: ``--model.weights`` says what it transferred (and warns when little matched),
``--model.freeze`` keeps layers and their BatchNorm statistics fixed, Lightning's ``BackboneFinetuning`` works."""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest
import torch

from run_helpers import REPO
from yolo12l.cli import main
from yolo12l.models import build_model
from yolo12l.training.finetune import backbone_layers

QUICKSTART = REPO / "configs" / "quickstart.yaml"


def base(cache: Path, root: Path, epochs: int = 1) -> list[str]:
    return ["--config", str(QUICKSTART), "--trainer.max_epochs", str(epochs), "--data.init_args.num_train", "16",
            "--data.init_args.num_val", "8", "--data.init_args.imgsz", "64", "--data.init_args.batch_size", "4",
            "--data.init_args.num_workers", "0", "--data.init_args.persistent_workers", "false",
            "--data.init_args.cache_dir", str(cache), "--trainer.default_root_dir", str(root),
            "--model.evaluation.save_plots", "false"]


def run(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return out.getvalue()


@pytest.fixture
def n_weights(tmp_path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A yolo12n state dict for the 5 synthetic classes, as a plain weights file."""
    torch.manual_seed(1)
    state = build_model("yolo12n.yaml", nc=5).state_dict()
    path = tmp_path / "yolo12n-5.pt"
    torch.save(state, path)
    return path, state


@pytest.fixture(autouse=True)
def _argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["yolo12l"])


def test_weights_report_and_freeze(synth_cache, tmp_path, n_weights):
    path, initial = n_weights
    root = tmp_path / "run"
    out = run(["fit", *base(synth_cache, root), "--model.weights", str(path), "--model.freeze", "2"])
    total = len(initial)
    assert f"Transferred {total}/{total} items from {path}" in out, out
    assert "Freezing layers 0-1" in out and "WARNING: only" not in out
    ckpt = torch.load(root / "logs" / "version_0" / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=True)
    raw = {k[4:]: v for k, v in ckpt["current_model_state"].items() if k.startswith("net.")}
    frozen = [k for k in initial if k.startswith(("model.0.", "model.1."))]
    assert frozen and any("running_mean" in k for k in frozen)
    for k in frozen:  # weights and BatchNorm statistics of the frozen layers: exactly the loaded ones
        assert torch.equal(raw[k], initial[k]), k
    trained = [k for k in initial if k.startswith("model.2.") and initial[k].is_floating_point()]
    assert any(not torch.equal(raw[k], initial[k]) for k in trained)  # the rest trained


def test_small_transfer_warns(synth_cache, tmp_path, n_weights):
    path, initial = n_weights
    out = run(["validate", *base(synth_cache, tmp_path / "run"), "--model.model", "yolo12s.yaml",
               "--model.weights", str(path)])
    total = len(build_model("yolo12s.yaml", nc=5).state_dict())
    line = next(x for x in out.splitlines() if x.startswith("Transferred"))
    loaded = int(line.split()[1].split("/")[0])
    assert line == f"Transferred {loaded}/{total} items from {path}" and 0 < loaded < 0.5 * total
    assert f"WARNING: only {loaded} of the network's {total} tensors" in out and " 0 absent)" in out
    assert "are these weights of another model or scale?" in out


def test_backbone_finetuning_callback(synth_cache, tmp_path, n_weights):
    path, initial = n_weights
    root = tmp_path / "run"
    run(["fit", *base(synth_cache, root, epochs=2), "--model.weights", str(path),
         "--trainer.callbacks+", "lightning.pytorch.callbacks.BackboneFinetuning",
         "--trainer.callbacks.unfreeze_backbone_at_epoch", "1"])
    ckpt = torch.load(root / "logs" / "version_0" / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=True)
    groups = ckpt["optimizer_states"][0]["param_groups"]
    assert [g.get("kind") for g in groups] == ["weight", "norm", "bias", None]  # the callback's backbone group
    # the callback freezes the backbone except its BatchNorms (train_bn): those stay in our groups, the rest is its
    backbone = backbone_layers(build_model("yolo12n.yaml", nc=5))
    bn = [p for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
          for p in m.parameters(recurse=False)]
    assert len(groups[3]["params"]) == len(list(backbone.parameters())) - len(bn)
    n_params = len(list(build_model("yolo12n.yaml", nc=5).parameters()))
    assert sum(len(g["params"]) for g in groups) == n_params  # every parameter optimised exactly once
    raw = {k[4:]: v for k, v in ckpt["current_model_state"].items() if k.startswith("net.")}
    assert not torch.equal(raw["model.0.conv.weight"], initial["model.0.conv.weight"])  # unfrozen at epoch 1
