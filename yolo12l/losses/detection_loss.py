"""YOLOv8/YOLO12 detection loss: task-aligned assignment, BCE class loss, CIoU + DFL box losses.

Loss items (each divided by ``S = max(sum of target scores, 1)`` over the batch, then multiplied by its gain):

* box: ``sum_fg (1 - CIoU(pred, target)) * w / S`` with ``w`` the anchor's target-score sum;
* cls: ``sum_all BCEWithLogits(logits, target_scores) / S``;
* dfl: ``sum_fg mean_sides DFL(logits, target ltrb) * w / S``.

The total that is backpropagated is ``(box + cls + dfl) * B`` (B = batch size), as Ultralytics does.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.anchors import bbox2dist, dist2bbox, make_anchors
from .dfl import dfl_decode
from .assigner import TaskAlignedAssigner
from .iou import bbox_iou
from .targets import pad_targets


def distribution_focal_loss(logits: Tensor, target: Tensor) -> Tensor:
    """DFL (Li et al., Generalized Focal Loss 2020): cross-entropy to the two bins around a continuous target.

    Args:
        logits: ``(..., reg_max)`` bin logits.
        target: ``(...)`` distances in bins, expected in ``[0, reg_max - 1)`` (clamped to ``reg_max - 1.01``).

    Returns:
        ``(...)`` ``CE(left) * (right - t) + CE(right) * (t - left)``.
    """
    reg_max = logits.shape[-1]
    target = target.clamp(0, reg_max - 1 - 0.01)
    left = target.long()
    right = left + 1
    w_left = right - target
    w_right = 1 - w_left
    flat = logits.reshape(-1, reg_max)
    ce_left = F.cross_entropy(flat, left.reshape(-1), reduction="none").view(left.shape)
    ce_right = F.cross_entropy(flat, right.reshape(-1), reduction="none").view(left.shape)
    return ce_left * w_left + ce_right * w_right


class BboxLoss(nn.Module):
    """CIoU and DFL losses over foreground anchors, weighted by the anchor's target score."""

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.reg_max = reg_max

    def forward(
        self,
        pred_dist: Tensor,
        pred_bboxes: Tensor,
        anchor_points: Tensor,
        target_bboxes: Tensor,
        target_scores: Tensor,
        target_scores_sum: Tensor,
        fg_mask: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Un-gained (box, dfl) losses.

        Args:
            pred_dist: ``(B, A, 4 * reg_max)`` DFL logits.
            pred_bboxes: ``(B, A, 4)`` decoded xyxy boxes in grid units.
            anchor_points: ``(A, 2)`` grid units.
            target_bboxes: ``(B, A, 4)`` assigned xyxy GT boxes in grid units.
            target_scores: ``(B, A, C)`` soft targets; target_scores_sum: scalar normaliser.
            fg_mask: ``(B, A)`` bool.
        """
        # one nonzero (the single host sync of the box losses), then integer gathers in the same row-major order as
        # boolean-mask indexing (each of which would sync again, in the forward and in the backward)
        fg = fg_mask.nonzero(as_tuple=True)
        weight = target_scores.sum(-1)[fg].unsqueeze(-1)  # (F, 1)
        iou = bbox_iou(pred_bboxes[fg], target_bboxes[fg], xywh=False, kind="ciou").unsqueeze(-1)
        loss_iou = ((1.0 - iou) * weight).sum() / target_scores_sum

        target_ltrb = bbox2dist(anchor_points[fg[1]], target_bboxes[fg], self.reg_max - 1 - 0.01)  # (F, 4)
        logits = pred_dist[fg].view(-1, 4, self.reg_max)
        loss_dfl = distribution_focal_loss(logits, target_ltrb).mean(-1, keepdim=True) * weight
        return loss_iou, loss_dfl.sum() / target_scores_sum


class DetectionLoss(nn.Module):
    """Loss of the anchor-free detection head (numerically equal to Ultralytics' ``v8DetectionLoss``).

    Called as ``loss(feats, batch)`` with ``feats`` the per-level raw head maps ``(B, 4 * reg_max + nc, H_i, W_i)``
    (DFL logits side-major first, then class logits) and ``batch`` a mapping with ``batch_idx (N,)``,
    ``cls (N,)`` or ``(N, 1)`` and ``bboxes (N, 4)`` normalised ``(cx, cy, w, h)``, or with these already padded
    by :func:`~yolo12l.losses.targets.pad_targets` (``gt_labels``, ``gt_bboxes``, ``mask_gt`` and the ``imgsz``
    they were made for; done on the host, it saves the device the host reads that validating and padding take).
    The input size is inferred as ``feats[0].shape[2:] * strides[0]``.

    Returns ``(total, items)``: ``items`` the detached ``[box, cls, dfl]`` after gains (Ultralytics' ``loss_items``)
    and ``total = items.sum() * B`` with gradient (what Ultralytics backpropagates). Computed in float32 with
    autocast disabled, whatever the dtype of ``feats``.
    """

    def __init__(
        self,
        nc: int = 80,
        strides: Sequence[float] = (8, 16, 32),
        box: float = 7.5,
        cls: float = 0.5,
        dfl: float = 1.5,
        reg_max: int = 16,
        tal_topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
    ):
        super().__init__()
        self.nc = nc
        self.strides = tuple(float(s) for s in strides)
        self.reg_max = reg_max
        self.no = 4 * reg_max + nc
        self.gains = {"box": float(box), "cls": float(cls), "dfl": float(dfl)}
        self.assigner = TaskAlignedAssigner(topk=tal_topk, num_classes=nc, alpha=alpha, beta=beta)
        self.bbox_loss = BboxLoss(reg_max)

    def _check_feats(self, feats: Sequence[Tensor]) -> None:
        if len(feats) != len(self.strides):
            raise ValueError(f"DetectionLoss: {len(feats)} feature maps for {len(self.strides)} strides")
        b = feats[0].shape[0]
        for i, f in enumerate(feats):
            if f.ndim != 4 or f.shape[0] != b or f.shape[1] != self.no:
                raise ValueError(
                    f"DetectionLoss: feats[{i}] must be (B={b}, {self.no}, H, W) "
                    f"(4*reg_max={4 * self.reg_max} + nc={self.nc}), got {tuple(f.shape)}"
                )

    @staticmethod
    def _padded(batch: Mapping[str, Tensor], bs: int, imgsz_hw: tuple[float, float],
                device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        gt = tuple(torch.as_tensor(batch[k], device=device) for k in ("gt_labels", "gt_bboxes", "mask_gt"))
        size = tuple(float(v) for v in batch.get("imgsz", imgsz_hw))
        if gt[1].shape[0] != bs or size != tuple(float(v) for v in imgsz_hw):
            raise ValueError(f"DetectionLoss: padded targets for {gt[1].shape[0]} images of {size} px, but the "
                             f"feature maps are of {bs} images of {imgsz_hw} px")
        return gt

    def forward(self, feats: Sequence[Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``feats``: list of ``(B, 4 * reg_max + nc, H_i, W_i)``; returns ``(total, items (3,) detached)``."""
        self._check_feats(feats)
        device = feats[0].device
        with torch.autocast(device_type=device.type, enabled=False):
            feats = [f.float() for f in feats]
            bs = feats[0].shape[0]
            pred = torch.cat([f.flatten(2) for f in feats], 2)  # (B, no, A)
            pred_dist, pred_logits = pred.split((4 * self.reg_max, self.nc), 1)
            pred_dist = pred_dist.transpose(1, 2).contiguous()  # (B, A, 4 * reg_max)
            pred_logits = pred_logits.transpose(1, 2).contiguous()  # (B, A, nc)

            anchor_points, stride_tensor = make_anchors(feats, self.strides, 0.5)
            imgsz_hw = (feats[0].shape[2] * self.strides[0], feats[0].shape[3] * self.strides[0])
            if "gt_bboxes" in batch:  # padded already (on the host, by the training step's batch hook)
                gt_labels, gt_bboxes, mask_gt = self._padded(batch, bs, imgsz_hw, device)
            else:
                targets = {k: torch.as_tensor(batch[k], device=device) for k in ("batch_idx", "cls", "bboxes")
                           if k in batch}
                gt_labels, gt_bboxes, mask_gt = pad_targets(targets, bs, imgsz_hw, self.nc)

            pred_bboxes = dist2bbox(dfl_decode(pred_dist, self.reg_max), anchor_points, xywh=False)  # grid units
            assign = self.assigner(
                pred_logits.detach().sigmoid(),
                pred_bboxes.detach() * stride_tensor,
                anchor_points * stride_tensor,
                gt_labels,
                gt_bboxes,
                mask_gt,
            )
            target_scores = assign.target_scores
            target_scores_sum = target_scores.sum().clamp(min=1.0)

            loss_cls = F.binary_cross_entropy_with_logits(pred_logits, target_scores, reduction="none").sum()
            loss_cls = loss_cls / target_scores_sum
            # no foreground anchor: both sums are empty, exactly zero, and the box channels stay in the graph (with
            # zero gradients, as DDP expects of every output)
            loss_box, loss_dfl = self.bbox_loss(
                pred_dist,
                pred_bboxes,
                anchor_points,
                assign.target_bboxes / stride_tensor,
                target_scores,
                target_scores_sum,
                assign.fg_mask,
            )

            items = torch.stack(
                (loss_box * self.gains["box"], loss_cls * self.gains["cls"], loss_dfl * self.gains["dfl"])
            )
            total = items.sum() * bs
        return total, items.detach()
