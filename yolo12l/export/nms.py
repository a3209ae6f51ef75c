"""In-graph NMS for ONNX export: the ONNX ``NonMaxSuppression`` op and an end-to-end wrapper around the network.

The wrapper reproduces :func:`yolo12l.ops.postprocess` (single best class per box, ``score > conf``, class-aware
greedy NMS by shifting boxes ``class * max_wh`` pixels, at most ``max_det`` boxes per image) with fixed-shape
outputs, so that the exported graph needs no post-processing code:

* ``num_dets`` (B,) int64 — detections per image;
* ``boxes`` (B, max_det, 4) float — x1, y1, x2, y2 in input pixels;
* ``scores`` (B, max_det) float — class probability;
* ``classes`` (B, max_det) int64 — class index.

Rows ``>= num_dets[b]`` are padding (boxes and scores 0, classes -1). Kept boxes are ordered by decreasing score.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ..ops import nms, xywh2xyxy

__all__ = ["EndToEndDetector", "NonMaxSuppression"]


class NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (opset ≥ 11): exported as that op, computed with :func:`yolo12l.ops.nms` in torch.

    Args (of ``apply``): boxes (B, N, 4) xyxy, scores (B, C, N), max_per_class, iou threshold (suppress when
    IoU > iou), score threshold (keep boxes with score > conf).

    Returns (K, 3) int64 rows ``[batch, class, box]``: batch by batch, class by class, by decreasing score — the
    order of onnxruntime's kernel.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_per_class: int, iou: float, conf: float) -> Tensor:
        rows = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                idx = (scores[b, c] > conf).nonzero().squeeze(1)
                keep = idx[nms(boxes[b, idx], scores[b, c, idx], iou)][:max_per_class]
                rows.append(torch.stack((torch.full_like(keep, b), torch.full_like(keep, c), keep), 1))
        if not rows:
            return torch.zeros(0, 3, dtype=torch.long, device=boxes.device)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class: int, iou: float, conf: float):
        return g.op(
            "NonMaxSuppression",
            boxes,
            scores,
            g.op("Constant", value_t=torch.tensor([max_per_class], dtype=torch.long)),
            g.op("Constant", value_t=torch.tensor([iou], dtype=torch.float)),
            g.op("Constant", value_t=torch.tensor([conf], dtype=torch.float)),
            center_point_box_i=0,
        )


class EndToEndDetector(nn.Module):
    """Network + decode + NMS with fixed-shape outputs. (B, 3, H, W) → num_dets, boxes, scores, classes (see module
    docstring).

    ``max_wh`` is the class offset of the class-aware NMS (as in :func:`yolo12l.ops.postprocess`): it must exceed the
    input size.
    """

    def __init__(self, net: nn.Module, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                 max_wh: float = 7680.0):
        super().__init__()
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {conf}")
        if not 0.0 <= iou <= 1.0:
            raise ValueError(f"iou must be in [0, 1], got {iou}")
        if max_det < 1:
            raise ValueError(f"max_det must be >= 1, got {max_det}")
        self.net = net
        self.conf, self.iou, self.max_det, self.max_wh = float(conf), float(iou), int(max_det), float(max_wh)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        y = self.net(x)  # (B, 4 + nc, A)
        boxes = xywh2xyxy(y[:, :4].transpose(1, 2))  # (B, A, 4)
        scores, labels = y[:, 4:].max(1)  # (B, A)
        shifted = boxes + labels.unsqueeze(-1).to(boxes.dtype) * self.max_wh
        sel = NonMaxSuppression.apply(shifted, scores.unsqueeze(1), self.max_det, self.iou, self.conf)
        b, a = sel[:, 0], sel[:, 2]
        n, num_anchors = x.shape[0], boxes.shape[1]
        # Row k of ``sel`` becomes detection number (rows of the same image before it) of image b[k]. Flat
        # gathers/scatters keep every op valid for any number of kept rows, zero included.
        same = (b.unsqueeze(1) == torch.arange(n, device=x.device).unsqueeze(0)).long()  # (K, B)
        slot = (same.cumsum(0) * same).sum(1) - 1
        src = b * num_anchors + a  # (K,) into the flattened (B·A) anchors
        dst = (b * self.max_det + slot).unsqueeze(1)  # (K, 1) into the flattened (B·max_det) outputs
        out_boxes = boxes.new_zeros((n * self.max_det, 4)).scatter(
            0, dst.expand(-1, 4), boxes.reshape(-1, 4).index_select(0, src))
        out_scores = scores.new_zeros((n * self.max_det, 1)).scatter(
            0, dst, scores.reshape(-1, 1).index_select(0, src))
        out_classes = labels.new_full((n * self.max_det, 1), -1).scatter(
            0, dst, labels.reshape(-1, 1).index_select(0, src))
        return (same.sum(0), out_boxes.view(n, self.max_det, 4), out_scores.view(n, self.max_det),
                out_classes.view(n, self.max_det))
