"""Small networks, inputs and an onnxruntime runner for the export tests."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from yolo12l.models import build_model


def _smooth_images(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    """(b, 3, h, w) in 0..1: coarse random colours upsampled, so that features vary over the image."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(b, 3, max(h // 16, 1), max(w // 16, 1), generator=g), size=(h, w),
                         mode="bilinear", align_corners=False)


class OrtRunner:
    """``runner(path, x)`` → list of numpy outputs of the ONNX file at ``path`` for input ``images=x``."""

    def __init__(self):
        self.ort = pytest.importorskip("onnxruntime")
        self.sessions: dict[str, object] = {}

    def __call__(self, path, x: torch.Tensor) -> list[np.ndarray]:
        key = str(path)
        if key not in self.sessions:
            self.sessions[key] = self.ort.InferenceSession(key, providers=["CPUExecutionProvider"])
        return self.sessions[key].run(None, {"images": x.numpy()})


@pytest.fixture(scope="session")
def smooth_images() -> Callable[[int, int, int, int], torch.Tensor]:
    return _smooth_images


@pytest.fixture(scope="session")
def run_onnx() -> OrtRunner:
    pytest.importorskip("onnx")
    return OrtRunner()


@pytest.fixture(scope="session")
def random_net() -> nn.Module:
    """yolo12n, nc=80, random weights as initialised, eval mode."""
    torch.manual_seed(0)
    return build_model("yolo12n.yaml").eval()


@pytest.fixture(scope="session")
def busy_net() -> nn.Module:
    """yolo12n, nc=5, random weights with BatchNorm statistics measured on images and class biases at 0, so that
    scores spread over 0..1 and many boxes pass conf=0.25 (the initial class bias gives ~1e-4 everywhere)."""
    torch.manual_seed(1)
    net = build_model("yolo12n.yaml", nc=5)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for seed in range(2):
            net(_smooth_images(4, 128, 128, seed=100 + seed))
    for seq in net.head.cv3:
        seq[-1].bias.data.zero_()
    return net.eval()
