"""DetectionNetwork.fuse(): BatchNorm folded into convolutions, channels-last, same outputs as the unfused net."""
from __future__ import annotations

import copy

import pytest
import torch

from yolo12l import build_model, convert_ultralytics_state_dict


def _randomise_bn(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine terms, so that folding them is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    head = net.head
    for seq in head.cv3:  # class logits away from the constant prior, so probabilities vary
        seq[-1].bias.data.copy_(torch.randn(seq[-1].bias.shape, generator=g))


def _assert_same_outputs(ref: torch.Tensor, fused: torch.Tensor) -> None:
    size = ref[:, 2:4].abs().amax(1, keepdim=True).clamp_min(1.0)  # (B, 1, A) box size
    box_err = ((ref[:, :4] - fused[:, :4]).abs() / size).max().item()
    prob_err = (ref[:, 4:] - fused[:, 4:]).abs().max().item()
    assert box_err < 1e-3 and prob_err < 1e-4, (box_err, prob_err)


def _bn_count(net: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


@pytest.mark.parametrize("cfg", ["yolo12n.yaml", "yolo12n-halo.yaml", "yolo12n-dtab.yaml", "yolov12n-turbo.yaml"])
def test_fused_equals_unfused(cfg, one_thread):
    torch.manual_seed(0)
    net = build_model(cfg, nc=7).eval()
    _randomise_bn(net)
    x = torch.rand(2, 3, 128, 160)
    with torch.inference_mode():
        ref = net(x)
        fused = copy.deepcopy(net).fuse()
        out = fused(x)
        out_contig = copy.deepcopy(net).fuse(channels_last=False)(x)
    assert _bn_count(net) > 0 and _bn_count(fused) == 0
    assert not fused.training and fused.fused
    assert fused.model[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    _assert_same_outputs(ref, out)
    _assert_same_outputs(ref, out_contig)


def test_fused_reference_weights(reference_dir, one_thread):
    parity = torch.load(reference_dir / "yolo12n_parity.pt", weights_only=True)
    net = build_model("yolo12n.yaml")
    net.load_state_dict(convert_ultralytics_state_dict(parity["state_dict"]), strict=True)
    net.eval()
    x = parity["input"][:1]
    with torch.inference_mode():
        ref = net(x)
        out = copy.deepcopy(net).fuse()(x)
        out_nograd = None
    with torch.no_grad():  # no_grad (not inference mode) takes the same in-place paths
        out_nograd = copy.deepcopy(net).fuse()(x)
    _assert_same_outputs(ref, out)
    _assert_same_outputs(ref, out_nograd)


def test_fused_network_refuses_training_and_unfused_stays_trainable():
    net = build_model("yolo12n.yaml", nc=3)
    fused = copy.deepcopy(net).fuse()
    with pytest.raises(RuntimeError, match="fused"):
        fused.train()
    net.train()  # the original is untouched
    maps = net(torch.rand(1, 3, 64, 64))
    sum(m.sum() for m in maps).backward()  # in-place inference paths are off while autograd records
    assert _bn_count(net) > 0


def test_anchor_cache_follows_input_size():
    net = build_model("yolo12n.yaml", nc=3).fuse()
    with torch.inference_mode():
        a = net(torch.rand(1, 3, 64, 96))
        b = net(torch.rand(1, 3, 96, 64))
        c = net(torch.rand(1, 3, 64, 96))
    assert a.shape[2] == b.shape[2] == c.shape[2] == 8 * 12 + 4 * 6 + 2 * 3
    # anchor centres (box centres lie near them): the x extent follows the input width each time
    assert a[0, 0].max() < 96 + 32 and b[0, 0].max() < 64 + 32 and c[0, 0].max() < 96 + 32
    head = net.head
    key_points = head.anchors([torch.zeros(1, 1, 8, 12), torch.zeros(1, 1, 4, 6), torch.zeros(1, 1, 2, 3)])[0]
    assert key_points.shape == (8 * 12 + 4 * 6 + 2 * 3, 2)


def test_two_thread_fused_kernels_and_uncopied_concats_equal_unfused():
    """At > 1 thread the k×k convolutions run as oneDNN conv + bias + SiLU kernels (onednn.fuse_convolutions);
    every neck Concat hands its parts to the next block; the outputs still equal the unfused network's."""
    from yolo12l.models.blocks import Concat, onednn

    torch.manual_seed(0)
    net = build_model("yolo12n.yaml", nc=5).eval()
    _randomise_bn(net)
    fused = copy.deepcopy(net).fuse()
    assert [m.i for m in fused.model if isinstance(m, Concat) and m.pass_parts] == [10, 13, 16, 19]
    x = torch.rand(2, 3, 64, 96)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert onednn.fuse_convolutions()
        with torch.inference_mode(), torch.profiler.profile() as prof:
            out = fused(x)
        with torch.inference_mode():
            ref = net(x)
    finally:
        torch.set_num_threads(threads)
    _assert_same_outputs(ref, out)
    if onednn.AVAILABLE:
        names = {e.key for e in prof.key_averages()}
        assert {"mkldnn::_convolution_pointwise", "mkldnn::_linear_pointwise"} <= names


def test_fuse_returns_inference_modules(one_thread):
    """timm's style: each block's ``fuse()`` returns its inference module and leaves the block as it was; the
    fused network holds only those (no training Conv / Detect left), with the parser's layer attributes."""
    from yolo12l.models.blocks import Conv, Detect
    from yolo12l.models.blocks.detect import FusedDetect
    from yolo12l.models.blocks.fused_conv import FusedConv

    torch.manual_seed(0)
    net = build_model("yolo12n.yaml", nc=3).eval()
    _randomise_bn(net)
    conv = net.model[0]
    fc = conv.fuse()
    assert isinstance(fc, FusedConv) and conv.bn is not None and conv.conv.bias is None  # the block is unchanged
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(fc(x), conv(x), rtol=1e-4, atol=1e-5)
    fused = copy.deepcopy(net).fuse()
    kinds = {type(m) for m in fused.modules()}
    assert Conv not in kinds and Detect not in kinds and {FusedConv, FusedDetect} <= kinds
    assert [(m.i, m.f, m.type) for m in fused.model] == [(m.i, m.f, m.type) for m in net.model]
    names = set(fused.state_dict())  # the same names, BatchNorms gone, conv biases added
    assert not any(".bn." in k for k in names) and all(k in net.state_dict() or k.endswith("conv.bias") for k in names)
    with torch.inference_mode():
        xs = torch.rand(2, 3, 64, 96)
        _assert_same_outputs(net(xs), fused(xs))
