"""The attention variants export: area attention (SDPA), Halo and DTAB blocks, and whole yolo12n-halo / -dtab
networks; onnxruntime equals torch for two batch sizes (dynamic batch axis; spatial size fixed at export)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolo12l.export import export_onnx
from yolo12l.export.symbolics import register_export_symbolics
from yolo12l.models import build_model
from yolo12l.models.blocks.area_attention import AAttn
from yolo12l.models.blocks.dtab import DTAB
from yolo12l.models.blocks.halo_attention import HaloAttention, HaloConv

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# direct torch.onnx.export calls: the exporter's own deprecation notices are expected (see yolo12l.export.onnx)
pytestmark = [pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
              pytest.mark.filterwarnings("ignore:The feature will be removed")]


def _randomise_norms(module: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that eval-mode blocks do more than scale by ~1."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
    return module.eval()


BLOCKS = {
    "area_attention": (lambda: AAttn(64, 2, area=4), (8, 8)),
    "area_attention_padded": (lambda: AAttn(64, 2, area=4), (5, 7)),  # 35 tokens: strips padded and masked
    "halo": (lambda: HaloAttention(64), (16, 16)),
    "halo_padded": (lambda: HaloAttention(64), (10, 12)),  # not whole 8x8 blocks
    "halo_conv_stride2": (lambda: HaloConv(64, 32), (12, 20)),
    "dtab_padded": (lambda: DTAB(64), (10, 6)),
}


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_matches_torch(name, tmp_path):
    make, (h, w) = BLOCKS[name]
    torch.manual_seed(0)
    block = _randomise_norms(make(), seed=1)
    register_export_symbolics()
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(block, (torch.randn(2, 64, h, w),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in (1, 3):
        x = torch.randn(b, 64, h, w, generator=torch.Generator().manual_seed(b))
        (got,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            expected = block(x).numpy()
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max())), name


@pytest.mark.parametrize("cfg, nc", [("yolo12n-halo.yaml", 80), ("yolo12n-dtab.yaml", 80), ("yolo12n-p2.yaml", 3)])
def test_network_matches_torch(cfg, nc, tmp_path, run_onnx, smooth_images):
    """Attention plug-ins (P4 4x4 and P5 2x2 at 64 px: local windows padded) and the four-level P2 head."""
    torch.manual_seed(0)
    net = build_model(cfg, nc=nc).eval()
    s = export_onnx(net, tmp_path / "net.onnx", imgsz=64)
    assert s.outputs[0].shape == ("batch", 4 + nc, sum((64 // int(st)) ** 2 for st in net.stride))
    for b in (1, 2):
        x = smooth_images(b, 64, 64, seed=b)
        (y,) = run_onnx(s.path, x)
        with torch.no_grad():
            ref = net(x).numpy()
        assert np.abs(y[:, :4] - ref[:, :4]).max() <= 1e-3
        assert np.abs(y[:, 4:] - ref[:, 4:]).max() <= 1e-4
