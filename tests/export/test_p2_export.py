"""yolo12n-p2 exports to ONNX: four output levels, onnxruntime equal to torch for two batch sizes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo12l.export import export_onnx
from yolo12l.models import build_model

pytest.importorskip("onnxruntime")


def test_p2_exports_to_onnx_equal_to_torch(tmp_path, run_onnx, smooth_images):
    torch.manual_seed(0)
    net = build_model("yolo12n-p2.yaml", nc=3).eval()
    s = export_onnx(net, tmp_path / "p2.onnx", imgsz=64)
    assert s.outputs[0].shape == ("batch", 7, 16 * 16 + 8 * 8 + 4 * 4 + 2 * 2)
    for b in (1, 2):
        x = smooth_images(b, 64, 64, seed=b)
        (y,) = run_onnx(s.path, x)
        with torch.no_grad():
            ref = net(x).numpy()
        assert np.abs(y[:, :4] - ref[:, :4]).max() <= 1e-3
        assert np.abs(y[:, 4:] - ref[:, 4:]).max() <= 1e-4
