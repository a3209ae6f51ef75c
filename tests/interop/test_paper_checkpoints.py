"""YOLOv12 paper-repo weights (v1.0 and turbo): architecture sizes, variant detection, output parity."""
from __future__ import annotations

import copy
import json
import re

import pytest
import torch
import yaml

from yolo12l import build_model, load_ultralytics_checkpoint
from yolo12l.interop import detect_variant, fold_pe_bias
from yolo12l.models import load_model_yaml
from yolo12l.models.parser import parse_model

SCALES = list("nsmlx")


def _counts(cfg_name: str, scale: str) -> tuple[int, int, int]:
    """(params, state-dict entries, attention blocks) of a shipped YAML at a scale, parsed on the meta device."""
    cfg, _ = load_model_yaml(cfg_name)
    with torch.device("meta"):
        layers, _ = parse_model(cfg, scale=scale)
    attn = [m for name, m in layers.named_modules() if name.endswith(".attn")]
    return sum(p.numel() for p in layers.parameters()), len(layers.state_dict()), len(attn)


@pytest.fixture(scope="module", params=["v1", "turbo"])
def parity(request, paper_reference_dir):
    data = torch.load(paper_reference_dir / f"yolov12n_{request.param}_parity.pt", weights_only=True)
    data["variant"] = request.param
    data["path"] = paper_reference_dir / f"yolov12n_{request.param}_parity.pt"
    return data


@pytest.fixture(scope="module")
def loaded(parity):
    return load_ultralytics_checkpoint(parity["path"])


# ------------------------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize("scale", SCALES)
def test_turbo_yaml_sizes_equal_paper_repo(paper_reference_dir, scale):
    ref = json.loads((paper_reference_dir / "turbo_stats.json").read_text())[scale]
    params, entries, _ = _counts("yolov12-turbo.yaml", scale)
    assert (params, entries) == (ref["params"], ref["state_dict_entries"])


@pytest.mark.parametrize("scale", SCALES)
def test_v1_sizes_equal_paper_repo_up_to_folded_pe_biases(paper_reference_dir, scale):
    """v1.0 = YOLO12 + one bias per pe channel (folded into BN on load): params differ by the pe channels, entries
    by one per attention block."""
    ref = json.loads((paper_reference_dir / "v1_stats.json").read_text())[scale]
    params, entries, n_attn = _counts("yolo12.yaml", scale)
    cfg, _ = load_model_yaml("yolo12.yaml")
    with torch.device("meta"):
        layers, _ = parse_model(cfg, scale=scale)
    pe_channels = sum(m.pe.conv.out_channels for name, m in layers.named_modules() if name.endswith(".attn"))
    assert params + pe_channels == ref["params"]
    assert entries + n_attn == ref["state_dict_entries"]


# ------------------------------------------------------------------------------------------------ variants
def test_variant_detected(parity, loaded):
    net, info = loaded
    expected = {"v1": ("yolov12-v1", 8), "turbo": ("yolov12-turbo", 0)}[parity["variant"]]
    assert (info["variant"], info["folded_pe_biases"]) == expected
    assert detect_variant(parity["state_dict"]) == expected[0]
    assert info["nc"] == 80 and info["scale"] == "n" and info["stride"] == (8.0, 16.0, 32.0)
    assert info["source"] == "state_dict" and len(net.names) == 80
    uses_turbo = any(m.type == "A2C2f_Turbo" for m in net.model)
    assert uses_turbo == (parity["variant"] == "turbo")
    assert not net.training


def test_unsupported_layouts_refused(parity):
    sd = dict(parity["state_dict"])
    no_attn = {k: v for k, v in sd.items() if ".attn." not in k}
    with pytest.raises(ValueError, match="no area-attention weights"):
        detect_variant(no_attn)
    mixed = {**sd, "model.99.attn.qk.conv.weight": torch.zeros(1), "model.99.attn.qkv.conv.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="mixes fused attn.qkv"):
        detect_variant(mixed)
    other = {re.sub(r"\.attn\.qkv?\.", ".attn.q.", k): v for k, v in sd.items()}
    with pytest.raises(ValueError, match=r"sub-modules \['pe', 'proj', 'q'.*\(expected attn.qkv or attn.qk\)"):
        detect_variant(other)


def test_turbo_weights_with_a_yolo12_yaml_refused(paper_reference_dir, tmp_path):
    """Turbo weights described by the plain YOLO12 YAML (no grouped convs): refused, naming the misfit."""
    turbo = torch.load(paper_reference_dir / "yolov12n_turbo_parity.pt", weights_only=True)
    v1 = torch.load(paper_reference_dir / "yolov12n_v1_parity.pt", weights_only=True)
    path = tmp_path / "bad.pt"
    torch.save({"state_dict": turbo["state_dict"], "yaml": v1["yaml"], "scale": "n"}, path)
    with pytest.raises(ValueError, match=r"model.1.conv.weight: file \(32, 8, 3, 3\) vs network \(32, 16, 3, 3\)"):
        load_ultralytics_checkpoint(path)


# ------------------------------------------------------------------------------------------------ parity
def _assert_output_parity(net, parity):
    with torch.no_grad():
        y = net(parity["input"])
    ref = parity["output"]
    assert y.shape == ref.shape == (2, 84, 1680)
    assert (y[:, :4] - ref[:, :4]).abs().max() < 1e-3  # pixels (measured 9.2e-5)
    assert (y[:, 4:] - ref[:, 4:]).abs().max() < 1e-5  # probabilities (measured 2e-10)
    # The random head's probabilities are ~1e-5..2e-4, so the absolute bound is loose: also compare relatively, at
    # twice our own float64-vs-float32 gap (measured: ours vs reference 2e-6, float64 vs float32 1e-5).
    assert ((y[:, 4:] - ref[:, 4:]).abs() / ref[:, 4:]).max() < 2e-5


def test_output_equals_paper_repo(loaded, parity):
    _assert_output_parity(loaded[0], parity)


def test_input_is_well_conditioned(loaded, parity):
    """float64 vs float32 of our network differ by ~1e-4 px / 1e-5 relative probability on these inputs, inside the
    tolerances above: no chaotic sensitivity. (The converse limitation, that these random-weight outputs barely
    depend on the attention's q/k layout, is measured by benchmarks/checks/paper_parity_sensitivity.py.)"""
    net = copy.deepcopy(loaded[0]).double()
    with torch.no_grad():
        y64 = net(parity["input"][:1].double())  # one image: float64 convolutions are slow on CPU
    ref = parity["output"][:1].double()
    assert (y64[:, :4] - ref[:, :4]).abs().max() < 1e-3
    assert ((y64[:, 4:] - ref[:, 4:]).abs() / ref[:, 4:]).max() < 2e-5


@pytest.mark.parametrize("parity", ["v1"], indirect=True)
def test_v1_bias_fold_is_exact(parity, loaded):
    """A YOLO12 network carrying v1's pe conv biases (the v1.0 computation) equals the folded network: per pe
    module to float rounding, and at the output."""
    folded = loaded[0]
    net = build_model(yaml.safe_load(parity["yaml"]), scale="n")
    for name, m in net.named_modules():
        if name.endswith(".attn"):
            m.pe.conv.bias = torch.nn.Parameter(torch.zeros(m.pe.conv.out_channels))
    net.load_state_dict(parity["state_dict"], strict=True)
    net.eval()
    torch.manual_seed(0)
    pes = [(m, f) for (n, m), f in zip(net.named_modules(), folded.modules()) if n.endswith(".attn.pe")]
    assert len(pes) == 8
    for with_bias, without in pes:
        assert with_bias.conv.bias.abs().max() > 1e-2  # the fold has something to do
        z = torch.randn(1, with_bias.conv.in_channels, 8, 10)
        with torch.no_grad():
            a, b = with_bias(z), without(z)
        assert (a - b).abs().max() < 1e-5 * a.abs().max()
    with torch.no_grad():
        a, b = net(parity["input"]), folded(parity["input"])
    assert (a - b)[:, :4].abs().max() < 1e-3 and ((a - b)[:, 4:].abs() / b[:, 4:]).max() < 1e-5


# ------------------------------------------------------------------------------------------------ file forms
def test_plain_state_dict_without_yaml(parity, tmp_path):
    """A bare ``{name: tensor}`` file: variant from the keys, architecture from the shipped YAML, scale from shapes."""
    path = tmp_path / "bare.pt"
    torch.save(parity["state_dict"], path)
    net, info = load_ultralytics_checkpoint(path)
    assert info["scale"] == "n" and info["variant"] == {"v1": "yolov12-v1", "turbo": "yolov12-turbo"}[parity["variant"]]
    _assert_output_parity(net, parity)


def test_pickled_detection_model(parity, tmp_path, save_as_ultralytics):
    """The form their ``.pt`` files take: a pickled ``ultralytics.nn.tasks.DetectionModel`` (fp16), read without
    running pickle code; their own YAML (``A2C2f`` for turbo too) is on the model object."""
    their_yaml = {**yaml.safe_load(parity["yaml"]), "scale": "n"}
    cfg = dict(their_yaml)
    if parity["variant"] == "turbo":
        cfg["backbone"] = [[f, n, "A2C2f_Turbo" if m == "A2C2f" else m, a] for f, n, m, a in cfg["backbone"]]
        cfg["head"] = [[f, n, "A2C2f_Turbo" if m == "A2C2f" else m, a] for f, n, m, a in cfg["head"]]
    net = build_model(cfg, scale="n")
    for name, m in net.named_modules():  # v1.0: the pe conv really has a bias parameter
        if name.endswith(".attn") and any(k.endswith("attn.pe.conv.bias") for k in parity["state_dict"]):
            m.pe.conv.bias = torch.nn.Parameter(torch.zeros(m.pe.conv.out_channels))
    net.load_state_dict(parity["state_dict"], strict=True)
    net.yaml = their_yaml
    net.names = {i: f"class{i}" for i in range(80)}
    path = tmp_path / "best.pt"
    save_as_ultralytics(net.half(), path, version="8.3.63", train_args={"imgsz": 640, "epochs": 600})
    raw = path.read_bytes()
    assert b"ultralytics.nn.tasks" in raw and b"DetectionModel" in raw and b"yolo12l" not in raw
    loaded, info = load_ultralytics_checkpoint(path)
    assert info["source"] == "model" and info["version"] == "8.3.63" and info["train_args"]["epochs"] == 600
    assert loaded.names[79] == "class79"
    expected, _ = fold_pe_bias({k: v.half().float() if v.is_floating_point() else v
                                for k, v in parity["state_dict"].items()})
    got = loaded.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k].to(got[k].dtype)) for k in expected)
