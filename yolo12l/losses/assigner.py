"""Task-aligned label assignment (TOOD, Feng et al. 2021) as used by YOLOv8-style heads.

For every (image, GT, anchor) triple, batched as ``(B, M, A)`` tensors (GTs padded to the max count M and masked):

1. candidates: anchors whose centre lies strictly inside the GT box (all four distances > eps);
2. alignment ``t = s^alpha * u^beta`` with ``s`` the predicted probability of the GT class and ``u`` the CIoU
   (clamped at 0) between the predicted and GT boxes, both zero outside the candidates;
3. the ``topk`` anchors of largest ``t`` per GT that are also candidates become positives;
4. an anchor positive for several GTs keeps only the GT with the largest overlap ``u``;
5. soft targets: one-hot of the GT class times ``t / max_t(GT) * max_u(GT)`` (maxima over the GT's positives),
   taking the largest value over GTs per anchor.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .iou import bbox_iou


class AssignResult(NamedTuple):
    """Targets per anchor; background anchors carry label 0 / box of GT 0 with ``fg_mask`` False and zero scores."""

    target_labels: Tensor  # (B, A) long
    target_bboxes: Tensor  # (B, A, 4) xyxy, units of gt_bboxes
    target_scores: Tensor  # (B, A, C) float, soft one-hot
    fg_mask: Tensor  # (B, A) bool
    target_gt_idx: Tensor  # (B, A) long, index into the padded GT axis


class TaskAlignedAssigner(nn.Module):
    """Task-aligned assigner (no parameters); see the module docstring for the rule."""

    def __init__(self, topk: int = 10, num_classes: int = 80, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9):
        super().__init__()
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def forward(
        self,
        pd_scores: Tensor,
        pd_bboxes: Tensor,
        anc_points: Tensor,
        gt_labels: Tensor,
        gt_bboxes: Tensor,
        mask_gt: Tensor,
    ) -> AssignResult:
        """Assign GTs to anchors.

        Args:
            pd_scores: ``(B, A, C)`` predicted class probabilities (after sigmoid).
            pd_bboxes: ``(B, A, 4)`` predicted xyxy boxes, same units as ``gt_bboxes`` (pixels in the loss).
            anc_points: ``(A, 2)`` anchor centres, same units.
            gt_labels: ``(B, M)`` or ``(B, M, 1)`` class ids of the padded GTs.
            gt_bboxes: ``(B, M, 4)`` xyxy GT boxes.
            mask_gt: ``(B, M)`` or ``(B, M, 1)``, true for real (non-padding) GTs.
        """
        bs, na, nc = pd_scores.shape
        n_max = gt_bboxes.shape[1]
        device = pd_scores.device
        if n_max == 0:
            return AssignResult(
                torch.zeros(bs, na, dtype=torch.long, device=device),
                torch.zeros_like(pd_bboxes),
                torch.zeros_like(pd_scores),
                torch.zeros(bs, na, dtype=torch.bool, device=device),
                torch.zeros(bs, na, dtype=torch.long, device=device),
            )
        gt_labels = gt_labels.reshape(bs, n_max).long()
        mask_gt = mask_gt.reshape(bs, n_max).bool()

        mask_in = self.candidates_in_gts(anc_points, gt_bboxes) & mask_gt[..., None]  # (B, M, A)
        align, overlaps = self.box_metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, mask_in)
        mask_topk = self.topk_mask(align, mask_gt)
        mask_pos = mask_topk & mask_in
        target_gt_idx, fg_mask, mask_pos = self.resolve_multiple(mask_pos, overlaps)

        # gather targets of the assigned GT per anchor
        batch_off = torch.arange(bs, device=device)[:, None] * n_max
        flat_idx = target_gt_idx + batch_off  # (B, A)
        target_labels = gt_labels.flatten()[flat_idx]
        target_bboxes = gt_bboxes.reshape(-1, 4)[flat_idx]
        target_scores = torch.zeros(bs, na, nc, dtype=pd_scores.dtype, device=device)
        target_scores.scatter_(2, target_labels.unsqueeze(-1), 1.0)
        target_scores = target_scores * fg_mask[..., None]

        # soft score: alignment normalised per GT to that GT's best overlap
        pos = mask_pos.to(align.dtype)
        align = align * pos
        pos_align = align.amax(-1, keepdim=True)  # (B, M, 1)
        pos_overlaps = (overlaps * pos).amax(-1, keepdim=True)
        norm_align = (align * pos_overlaps / (pos_align + self.eps)).amax(-2)  # (B, A)
        target_scores = target_scores * norm_align.unsqueeze(-1)
        return AssignResult(target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx)

    def candidates_in_gts(self, anc_points: Tensor, gt_bboxes: Tensor) -> Tensor:
        """``(B, M, A)`` bool: anchor centre strictly inside the GT box (every side distance > eps)."""
        ax, ay = anc_points[:, 0], anc_points[:, 1]  # (A,)
        x1, y1, x2, y2 = (c[..., None] for c in gt_bboxes.unbind(-1))  # (B, M, 1)
        # running minimum of the four side distances (avoids a (B, M, A, 4) temporary)
        dmin = torch.minimum(ax - x1, ay - y1)
        dmin = torch.minimum(dmin, x2 - ax)
        dmin = torch.minimum(dmin, y2 - ay)
        return dmin > self.eps

    def box_metrics(
        self, pd_scores: Tensor, pd_bboxes: Tensor, gt_labels: Tensor, gt_bboxes: Tensor, mask_in: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Alignment and CIoU overlaps ``(B, M, A)``, computed only on candidate pairs (zero elsewhere)."""
        b, m, a = mask_in.nonzero(as_tuple=True)
        iou = bbox_iou(gt_bboxes[b, m], pd_bboxes[b, a], xywh=False, kind="ciou").clamp(0)
        scores = pd_scores[b, a, gt_labels[b, m]]
        overlaps = torch.zeros(mask_in.shape, dtype=pd_bboxes.dtype, device=pd_bboxes.device)
        align = torch.zeros(mask_in.shape, dtype=pd_scores.dtype, device=pd_scores.device)
        overlaps[b, m, a] = iou
        align[b, m, a] = scores.pow(self.alpha) * iou.pow(self.beta)
        return align, overlaps

    def topk_mask(self, align: Tensor, mask_gt: Tensor) -> Tensor:
        """``(B, M, A)`` bool: the ``topk`` anchors of largest alignment for each real GT."""
        k = min(self.topk, align.shape[-1])
        idx = align.topk(k, dim=-1, largest=True).indices
        mask = torch.zeros(align.shape, dtype=torch.bool, device=align.device)
        mask.scatter_(-1, idx, True)
        return mask & mask_gt[..., None]

    @staticmethod
    def resolve_multiple(mask_pos: Tensor, overlaps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Keep one GT per anchor: anchors positive for several GTs go to the GT of largest overlap.

        Returns target_gt_idx ``(B, A)``, fg_mask ``(B, A)`` bool and the resolved mask_pos ``(B, M, A)`` bool.
        """
        multi = mask_pos.sum(-2, keepdim=True) > 1  # (B, 1, A)
        # argmax over all GTs, not only the claiming ones (a containing GT of larger overlap wins); computed for every
        # anchor and selected, rather than after a host-side ``multi.any()``
        best = torch.zeros_like(mask_pos).scatter_(1, overlaps.argmax(1, keepdim=True), True)
        mask_pos = torch.where(multi, best, mask_pos)
        return mask_pos.to(torch.uint8).argmax(-2), mask_pos.any(-2), mask_pos
