"""Every shipped config (base, halo, dtab) at every scale trains: finite gradients, and one SGD step with weight
decay leaves every parameter finite.

Each model (batch 1) takes a 128×128 fp32 step, then a 160×288 step (rectangular maps, P5 5×9: padded windows, P4 10×18
split into 4 areas) under bf16 autocast, then an eval pass at 160×288. The module runs torch on one thread: on shared
cores two threads wait on each other at every parallel region and the l/x DTAB steps (224/499 GFLOP at 640) slow down
ten-fold.
"""
from __future__ import annotations

import pytest
import torch

from yolo12l import build_model

CONFIGS = {"base": "", "halo": "-halo", "dtab": "-dtab"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _train_step(net: torch.nn.Module, x: torch.Tensor, bf16: bool) -> None:
    net.train()
    net.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        maps = net(x)
    assert [m.shape[-2:] for m in maps] == [(x.shape[2] // s, x.shape[3] // s) for s in (8, 16, 32)]
    loss = sum(m.float().square().mean() for m in maps)
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name} gets no gradient"
            assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4).step()
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        if t.is_floating_point():
            assert torch.isfinite(t).all(), f"{name} is not finite after an SGD step"


@pytest.mark.parametrize("scale", list("nslmx"))
@pytest.mark.parametrize("config", CONFIGS)
def test_config_trains(config, scale):
    torch.manual_seed(0)
    net = build_model(f"yolo12{scale}{CONFIGS[config]}.yaml", nc=4)  # resolves to yolo12{-cfg}.yaml at the scale
    assert net.scale == scale
    _train_step(net, torch.rand(1, 3, 128, 128), bf16=False)
    x = torch.rand(1, 3, 160, 288)
    _train_step(net, x, bf16=True)
    net.eval()
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 4 + 4, 20 * 36 + 10 * 18 + 5 * 9) and torch.isfinite(y).all()
