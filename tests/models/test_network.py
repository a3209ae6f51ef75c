"""Network modes and construction paths."""
from __future__ import annotations

import pytest
import torch

from yolo12l import build_model
from yolo12l.models.network import CFG_DIR


@pytest.fixture(scope="module")
def net():
    return build_model("yolo12n.yaml", nc=5)


def test_train_mode_returns_per_level_maps(net):
    net.train()
    maps = net(torch.randn(2, 3, 128, 192))
    assert [tuple(m.shape) for m in maps] == [(2, 69, 16, 24), (2, 69, 8, 12), (2, 69, 4, 6)]
    sum(m.sum() for m in maps).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    net.zero_grad()


def test_eval_batch_one_and_layout(net):
    net.eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, 96, 160))
    assert y.shape == (1, 4 + 5, 12 * 20 + 6 * 10 + 3 * 5)
    probs = y[:, 4:]
    assert (probs >= 0).all() and (probs <= 1).all()
    # P3 anchor (row 0, col 1) has its centre at x = 1.5 · 8 px; widths are positive
    assert (y[:, 2:4] > 0).all()


def test_bf16_autocast(net):
    net.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        y32 = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y16 = net(x)
    assert torch.isfinite(y16).all()
    assert (y16.float()[:, 4:] - y32[:, 4:]).abs().max() < 0.1
    net.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = net(x)
    sum(m.float().sum() for m in maps).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_build_from_path_dict_and_scale(tmp_path):
    text = (CFG_DIR / "yolo12.yaml").read_text()
    p = tmp_path / "my12.yaml"
    p.write_text(text)
    a = build_model(p, scale="s", nc=3)
    b = build_model("yolo12s.yaml", nc=3)
    assert a.num_params() == b.num_params() and a.nc == 3 and a.scale == "s"
    # a scale letter in a file name resolves to the base file beside it
    c = build_model(str(tmp_path / "my12s.yaml"), nc=3)
    assert c.scale == "s" and c.num_params() == a.num_params()


def test_unknown_model_name():
    with pytest.raises(FileNotFoundError, match="yolo12.yaml"):
        build_model("nosuchmodel.yaml")


def test_uneven_feature_size_does_not_crash(net):
    net.eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, 32 * 3, 32 * 5))  # P4 6×10 = 60 tokens / area 4 = 15; P5 3×5
        y2 = net(torch.rand(1, 3, 32 * 3, 32 * 3))  # P4 6×6 = 36 / 4
    assert torch.isfinite(y).all() and torch.isfinite(y2).all()
