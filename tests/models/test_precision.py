"""Mixed precision in the network (models/blocks/precision.py): the fused and unfused networks run under CPU
autocast (bf16) and as a ``.half()`` network, compute in that dtype, and decode their output in float32."""
from __future__ import annotations

import copy

import pytest
import torch

from yolo12l import build_model
from yolo12l.models.blocks import Detect
from yolo12l.models.blocks.precision import autocast_off, compute_dtype, output_dtype

CFGS = ["yolo12n.yaml", "yolo12n-halo.yaml", "yolo12n-dtab.yaml", "yolov12n-turbo.yaml"]


def _net(cfg: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model(cfg, nc=5).eval()
    g = torch.Generator().manual_seed(0)
    for m in net.modules():  # non-trivial BatchNorm statistics, class logits away from the prior
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    for seq in net.head.cv3:
        seq[-1].bias.data.copy_(torch.randn(seq[-1].bias.shape, generator=g))
    return net


def _errors(ref: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    size = ref[:, 2:4].abs().amax(1, keepdim=True).clamp_min(1.0)
    return (((ref[:, :4] - out[:, :4]).abs() / size).max().item(), (ref[:, 4:] - out[:, 4:]).abs().max().item())


@pytest.mark.parametrize("cfg", CFGS)
def test_fused_and_unfused_under_bf16_autocast_and_half(cfg, one_thread):
    net = _net(cfg)
    fused = copy.deepcopy(net).fuse()
    x = torch.rand(2, 3, 96, 128)
    with torch.inference_mode():
        ref = net(x)
        ref_fused = fused(x)
        outs = {}
        for name, model in (("unfused", net), ("fused", fused)):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                outs[f"{name} bf16"] = model(x)
            outs[f"{name} half"] = copy.deepcopy(model).half()(x.half())
    for key, out in outs.items():
        assert out.dtype == torch.float32 and out.shape == ref.shape and torch.isfinite(out).all(), key
        box_err, prob_err = _errors(ref, out)
        tol = 1e-2 if "bf16" in key else 2e-3  # measured ≤ 8e-4 / 1.3e-3 (bf16), ≤ 2e-4 (half): 8 vs 11 bits
        assert box_err < tol and prob_err < tol, (key, box_err, prob_err)
    assert not torch.equal(outs["fused bf16"], ref_fused)  # the fused path really computed in bf16
    box_err, prob_err = _errors(outs["unfused bf16"], outs["fused bf16"])
    assert box_err < 1e-2 and prob_err < 1e-2, (box_err, prob_err)


def test_fused_concat_parts_of_mixed_dtypes_under_autocast(one_thread):
    """A Concat of float32 and bf16 parts (an A2C2f layer scale promotes its output) into a fused 1×1 conv."""
    net = _net("yolo12n.yaml")
    fused = copy.deepcopy(net).fuse()
    conv = next(m for m in fused.modules() if getattr(m, "pointwise", False) and m.conv.in_channels >= 64)
    half = conv.conv.in_channels // 2
    a = torch.randn(1, half, 8, 8).to(memory_format=torch.channels_last)
    b = torch.randn(1, conv.conv.in_channels - half, 8, 8).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        want = conv(torch.cat((a, b), 1).contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = conv.forward_cat([a, b.bfloat16()])
    assert got.dtype == torch.bfloat16
    assert (got.float() - want).abs().max().item() < 0.05 * want.abs().max().item()


def test_head_decodes_in_float32_at_large_grids(one_thread):
    """bf16 has 8 significant bits: anchor x = 150.5 (a 1280 px image's P3 grid) would round to 150. The head
    decodes bf16 maps in float32 with autocast off: exactly the decode of the same maps cast to float32."""
    head = Detect(nc=3, ch=(16, 32, 64)).eval()
    head.stride = torch.tensor([8.0, 16.0, 32.0])
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(1, head.no, 1280 // s, 1280 // s, generator=g).bfloat16() for s in (8, 16, 32)]
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = head.decode(maps)
        want = head.decode([m.float() for m in maps])
    assert out.dtype == torch.float32 and torch.equal(out, want)
    points, _ = head.anchors(maps, torch.float32)
    assert points.dtype == torch.float32 and points[:, 0].max().item() == 159.5


def test_precision_helpers():
    x = torch.zeros(2)
    assert compute_dtype(x) == torch.float32 and output_dtype(x.bfloat16()) == torch.float32
    assert output_dtype(x.double()) == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compute_dtype(x) == torch.bfloat16
        with autocast_off(x):
            assert not torch.is_autocast_enabled("cpu") and compute_dtype(x) == torch.float32
        assert torch.is_autocast_enabled("cpu")
    meta = torch.empty(2, device="meta")  # no autocast on the meta device (FLOP counting builds there)
    assert compute_dtype(meta) == torch.float32
    with autocast_off(meta):
        pass
