"""load_ultralytics_checkpoint on a real Ultralytics checkpoint, refusals, and fine-tuning from such weights."""
from __future__ import annotations

import copy

import pytest
import torch

from yolo12l import build_model, load_ultralytics_checkpoint
from yolo12l.interop import read_ultralytics_checkpoint
from yolo12l.interop.weights import load_weights

CKPT = "yolo12n_shapes_ultralytics.pt"


@pytest.fixture(scope="module")
def shapes(reference_dir):
    return load_ultralytics_checkpoint(reference_dir / CKPT)


def test_real_checkpoint(shapes, reference_dir):
    net, info = shapes
    assert info["variant"] == "yolo12" and info["folded_pe_biases"] == 0
    assert info["nc"] == net.nc == 3
    assert info["names"] == net.names == {0: "circle", 1: "square", 2: "triangle"}
    assert info["scale"] == "n" and info["stride"] == (8.0, 16.0, 32.0)
    assert info["source"] == "model" and info["version"] == "8.4.190" and info["train_args"]["imgsz"] == 256
    assert info["yaml"]["nc"] == 3 and info["yaml"]["backbone"][6][2] == "A2C2f"
    assert not net.training
    ref = read_ultralytics_checkpoint(reference_dir / CKPT).state_dict
    mine = net.state_dict()
    assert set(mine) == set(ref)
    assert all(torch.equal(mine[k], ref[k]) for k in ref)


def test_output_on_ultralytics_parity_state_dict(reference_dir):
    """``yolo12n_parity.pt`` holds a bare state dict (no YAML): the scale is found from the shapes."""
    net, info = load_ultralytics_checkpoint(reference_dir / "yolo12n_parity.pt")
    parity = torch.load(reference_dir / "yolo12n_parity.pt", weights_only=True)
    assert info["scale"] == "n" and info["variant"] == "yolo12" and info["nc"] == 80
    with torch.no_grad():
        y = net(parity["input"][:2])
    assert (y[:, :4] - parity["output"][:2, :4]).abs().max() < 1e-3
    assert (y[:, 4:] - parity["output"][:2, 4:]).abs().max() < 1e-5


def _parity_sd(reference_dir):
    return torch.load(reference_dir / "yolo12n_parity.pt", weights_only=True)["state_dict"]


def test_unknown_block_refused(reference_dir, tmp_path, shapes):
    cfg = copy.deepcopy(shapes[1]["yaml"])
    cfg["nc"] = 80
    cfg["backbone"][8] = [-1, 2, "C2PSA", [1024]]
    path = tmp_path / "yolo11ish.pt"
    torch.save({"state_dict": _parity_sd(reference_dir), "yaml": cfg}, path)
    with pytest.raises(ValueError, match=r"uses \['C2PSA'\], which yolo12l does not have"):
        load_ultralytics_checkpoint(path)


def test_not_a_detection_model_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.weight": torch.zeros(10, 8)}, path)
    with pytest.raises(ValueError, match=r"no 'model\.\*' network weights among 2 tensors \(e\.g\. conv1\.weight"):
        load_ultralytics_checkpoint(path)
    path = tmp_path / "junk.pt"
    path.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_ultralytics_checkpoint(path)
    path = tmp_path / "cnn.pt"
    torch.save({"model.0.conv.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="no area-attention weights"):
        load_ultralytics_checkpoint(path)


def test_weights_of_another_size_refused(reference_dir, tmp_path, shapes):
    path = tmp_path / "s_yaml.pt"
    torch.save({"state_dict": _parity_sd(reference_dir), "yaml": {**shapes[1]["yaml"], "nc": 80, "scale": "s"}}, path)
    with pytest.raises(ValueError, match=r"do not fit the network built from its model YAML at scale 's': "
                                         r"model\.0\.conv\.weight: file \(16, 3, 3, 3\) vs network \(32, 3, 3, 3\)"):
        load_ultralytics_checkpoint(path)


# ------------------------------------------------------------------------------------------------ fine-tuning
def test_fine_tune_from_ultralytics_weights_keeps_all_but_class_outputs(reference_dir):
    """Starting a 5-class model from the 3-class shapes checkpoint: everything is loaded except the last 1×1 conv
    of each class branch, which keeps its fresh initialisation (5 outputs, prior bias)."""
    net = build_model("yolo12n.yaml", nc=5)
    fresh = copy.deepcopy(net.state_dict())
    report = load_weights(net, reference_dir / CKPT)
    head_last = {f"model.21.cv3.{i}.2.{p}" for i in range(3) for p in ("weight", "bias")}
    assert set(report.shape_mismatch) == head_last
    assert not report.missing and not report.unexpected
    src = read_ultralytics_checkpoint(reference_dir / CKPT).state_dict
    got = net.state_dict()
    for k, v in got.items():
        if k in head_last:
            assert v.shape[0] == 5 and torch.equal(v, fresh[k]), k
        else:
            assert torch.equal(v, src[k]), k
    assert got["model.21.cv3.0.2.weight"].shape == (5, 64, 1, 1)
    # the backbone really changed from its initialisation
    assert not torch.equal(got["model.0.conv.weight"], fresh["model.0.conv.weight"])


def test_fine_tune_from_v1_weights_folds_the_pe_bias(paper_reference_dir):
    net = build_model("yolo12n.yaml", nc=80)
    report = load_weights(net, paper_reference_dir / "yolov12n_v1_parity.pt")
    assert not report.shape_mismatch and not report.missing and not report.unexpected
    sd = torch.load(paper_reference_dir / "yolov12n_v1_parity.pt", weights_only=True)["state_dict"]
    key = "model.6.m.0.0.attn.pe."
    assert torch.equal(net.state_dict()[key + "bn.running_mean"],
                       sd[key + "bn.running_mean"] - sd[key + "conv.bias"])
