"""Every shipped config (base, halo, dtab) at every scale trains: finite gradients, and one SGD step with weight
decay leaves every parameter finite.

Budget (2 shared CPU cores, batch 1): 320×320 fp32 for every config and scale, except dtab l/x at 160×160 (P5 5×5,
padded windows) — DTAB l/x cost 224/499 GFLOP at 640 against 95/209 for YOLO12 l/x, ~20 CPU-s per step at 320.
256×416 (rectangular maps, P5 8×13) under bf16 autocast, plus an eval pass, for n and one big scale per config.
"""
from __future__ import annotations

import pytest
import torch

from yolo12l import build_model

CONFIGS = {"base": "", "halo": "-halo", "dtab": "-dtab"}


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


SQUARE = {("dtab", "l"): 160, ("dtab", "x"): 160}  # default 320
RECT_BF16 = {("base", "n"), ("base", "l"), ("halo", "n"), ("halo", "l"), ("dtab", "n"), ("dtab", "m")}


@pytest.mark.parametrize("scale", list("nslmx"))
@pytest.mark.parametrize("config", CONFIGS)
def test_config_trains(config, scale):
    torch.manual_seed(0)
    net = build_model(f"yolo12{scale}{CONFIGS[config]}.yaml", nc=4)  # resolves to yolo12{-cfg}.yaml at the scale
    assert net.scale == scale
    size = SQUARE.get((config, scale), 320)
    _train_step(net, torch.rand(1, 3, size, size), bf16=False)
    if (config, scale) in RECT_BF16:
        x = torch.rand(1, 3, 256, 416)
        _train_step(net, x, bf16=True)
        net.eval()
        with torch.no_grad():
            y = net(x)
        assert y.shape == (1, 4 + 4, 32 * 52 + 16 * 26 + 8 * 13) and torch.isfinite(y).all()
