"""The P2-P5 models (yolo12-p2.yaml, yolo12-p2-halo.yaml): four levels (strides 4-32) at every scale, the loss and
the assigner on four levels, eval decoding, fusing,. (ONNX export: tests/export/test_p2_export.py;
a short fit, validate and predict through the CLI: tests/training/test_cli.py.)"""
from __future__ import annotations

import pytest
import torch

from yolo12l import build_model
from yolo12l.losses import DetectionLoss
from yolo12l.losses.assigner import TaskAlignedAssigner
from yolo12l.ops import make_anchors

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("scale", list("nslmx"))
def test_every_scale_builds_four_levels(scale):
    net = build_model(f"yolo12{scale}-p2.yaml", nc=3)
    base = build_model(f"yolo12{scale}.yaml", nc=3)
    assert net.stride.tolist() == [4.0, 8.0, 16.0, 32.0] and net.scale == scale
    assert net.model[-1].nl == 4 and len(net.model) == len(base.model) + 6  # 3 layers down to P2, 3 back up
    n_p2, n_base = (sum(p.numel() for p in m.parameters()) for m in (net, base))
    assert n_base < n_p2 < 1.25 * n_base


@pytest.mark.parametrize("cfg", ["yolo12n-p2.yaml", "yolo12n-p2-halo.yaml"])
def test_loss_trains_on_four_levels(cfg):
    torch.manual_seed(0)
    net = build_model(cfg, nc=3).train()
    x = torch.rand(2, 3, 96, 128)
    maps = net(x)
    assert [tuple(m.shape[-2:]) for m in maps] == [(96 // s, 128 // s) for s in (4, 8, 16, 32)]
    loss_fn = DetectionLoss(nc=3, strides=net.stride.tolist())
    batch = {"batch_idx": torch.tensor([0.0, 0, 1]), "cls": torch.tensor([[0.0], [2], [1]]),
             "bboxes": torch.tensor([[0.2, 0.3, 0.04, 0.05], [0.6, 0.5, 0.3, 0.4], [0.5, 0.5, 0.06, 0.06]])}
    total, items = loss_fn(maps, batch)
    assert torch.isfinite(total) and (items > 0).all()  # tiny boxes too get positives (box / dfl loss > 0)
    total.backward()
    p2_head = net.model[-1].cv2[0][-1].weight  # the stride-4 box branch learns
    assert p2_head.grad is not None and p2_head.grad.abs().sum() > 0
    net.eval()
    with torch.no_grad():
        y = net(x)
        fused = build_model(cfg, nc=3)
        fused.load_state_dict(net.state_dict())
        yf = fused.eval().fuse()(x)
    assert y.shape == (2, 7, sum((96 // s) * (128 // s) for s in (4, 8, 16, 32)))
    torch.testing.assert_close(yf, y, atol=1e-3, rtol=1e-4)


def test_assigner_finds_a_tiny_object_only_with_the_stride_4_level():
    # 3 px: the cell centres of strides 8, 16, 32 lie on multiples of 4 (4 + 8k, 8 + 16k, 16 + 32k), none inside it;
    # the stride-4 centre 102 (2 + 4k) does
    gt = torch.tensor([[[100.5, 100.5, 103.5, 103.5]]])
    fg = []
    for strides in ((8, 16, 32), (4, 8, 16, 32)):
        points, stride_t = make_anchors([(128 // s, 128 // s) for s in strides], strides)
        anchors = points * stride_t
        a = anchors.shape[0]
        res = TaskAlignedAssigner(topk=10, num_classes=2)(
            torch.full((1, a, 2), 0.5), gt.expand(1, a, 4).clone(), anchors, torch.tensor([[1]]), gt,
            torch.tensor([[True]]))
        fg.append(stride_t[res.fg_mask[0], 0])
    assert fg[0].numel() == 0
    assert fg[1].numel() > 0 and (fg[1] == 4).all()
