"""ONNX export of the network with the decode in the graph: onnxruntime gives the torch eval output."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolo12l.export import ExportSummary, export_onnx, summarise_onnx

onnx = pytest.importorskip("onnx")

BOX_ATOL = 1e-3  # pixels
PROB_ATOL = 1e-4


def assert_close_to_torch(net: nn.Module, out: np.ndarray, x: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        ref = net(x).numpy()
    assert out.shape == ref.shape
    box_err = float(np.abs(out[:, :4] - ref[:, :4]).max())
    prob_err = float(np.abs(out[:, 4:] - ref[:, 4:]).max())
    assert box_err <= BOX_ATOL and prob_err <= PROB_ATOL, (box_err, prob_err)
    return box_err, prob_err


@pytest.fixture(scope="module")
def dynamic_export(random_net, tmp_path_factory) -> ExportSummary:
    return export_onnx(random_net, tmp_path_factory.mktemp("onnx") / "yolo12n.onnx", imgsz=160)


@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_batch_matches_torch(random_net, dynamic_export, run_onnx, smooth_images, batch):
    x = smooth_images(batch, 160, 160, seed=batch)
    (out,) = run_onnx(dynamic_export.path, x)
    assert out.shape == (batch, 84, 20 * 20 + 10 * 10 + 5 * 5)
    assert_close_to_torch(random_net, out, x)


def test_summary_and_metadata(random_net, dynamic_export):
    s = dynamic_export
    assert s.opset == 17 and s.path.stat().st_size == s.file_size > 1_000_000
    assert [(t.name, t.shape, t.dtype) for t in s.inputs] == [("images", ("batch", 3, 160, 160), "float32")]
    assert [(t.name, t.shape, t.dtype) for t in s.outputs] == [("output0", ("batch", 84, 525), "float32")]
    assert json.loads(s.metadata["names"]) == {str(i): str(i) for i in range(80)}
    assert json.loads(s.metadata["stride"]) == [8, 16, 32]
    assert json.loads(s.metadata["imgsz"]) == [160, 160]
    assert s.metadata["nms"] == "false" and s.metadata["nc"] == "80"
    text = str(s)
    assert "images float32[batch, 3, 160, 160]" in text and "output0 float32[batch, 84, 525]" in text
    assert summarise_onnx(s.path).metadata == s.metadata
    onnx.checker.check_model(str(s.path))
    assert random_net.model[0].conv.weight.requires_grad  # export works on a copy


def test_static_rectangular_simplified_export(random_net, tmp_path, run_onnx, smooth_images):
    random_net.names = {i: f"class{i}" for i in range(80)}
    try:
        s = export_onnx(random_net, tmp_path / "sub" / "rect.onnx", imgsz=(128, 192), batch=2, dynamic=False,
                        simplify=True, opset=18)
    finally:
        random_net.names = {i: str(i) for i in range(80)}
    assert s.opset == 18
    assert s.inputs[0].shape == (2, 3, 128, 192)
    assert s.outputs[0].shape == (2, 84, 16 * 24 + 8 * 12 + 4 * 6)
    assert json.loads(s.metadata["names"])["79"] == "class79"
    assert json.loads(s.metadata["imgsz"]) == [128, 192]
    x = smooth_images(2, 128, 192, seed=7)
    assert_close_to_torch(random_net, run_onnx(s.path, x)[0], x)


def test_bad_arguments(random_net, tmp_path):
    for opset in (13, 99):
        with pytest.raises(ValueError, match="opset"):
            export_onnx(random_net, tmp_path / "a.onnx", imgsz=64, opset=opset)
    with pytest.raises(ValueError, match="multiples of 32"):
        export_onnx(random_net, tmp_path / "a.onnx", imgsz=(64, 100))
    with pytest.raises(ValueError, match="batch"):
        export_onnx(random_net, tmp_path / "a.onnx", imgsz=64, batch=0)
    with pytest.raises(ValueError, match="Detect head"):
        export_onnx(nn.Conv2d(3, 3, 1), tmp_path / "a.onnx", imgsz=64)
    assert not (tmp_path / "a.onnx").exists()
