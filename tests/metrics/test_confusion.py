"""Confusion matrix and the P / R / F1-confidence curves on hand-computed cases; the plots are written."""
from __future__ import annotations

import pytest
import torch

from yolo12l.metrics import (DetectionData, confidence_curves, confusion_matrix, plot_confidence_curve,
                             plot_confusion_matrix, pr_curves)


def _data():
    # image 1: gt class 0 and 1; dets: correct 0, class-1 box predicted as 0, a background FP of class 1,
    # a low-score det (below conf 0.25) ignored. image 2: a missed class-1 box, a det on its crowd region.
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]]), "labels": torch.tensor([0, 1]),
                "image_id": 1},
               {"boxes": torch.tensor([[0.0, 0, 10, 10], [50, 50, 90, 90]]), "labels": torch.tensor([1, 1]),
                "iscrowd": torch.tensor([0, 1]), "image_id": 2}]
    preds = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [60, 60, 70, 70], [0, 0, 10, 10]]),
              "scores": torch.tensor([0.9, 0.8, 0.7, 0.1]), "labels": torch.tensor([0, 0, 1, 1])},
             {"boxes": torch.tensor([[52.0, 52, 88, 88]]), "scores": torch.tensor([0.6]), "labels": torch.tensor([1])}]
    return DetectionData.from_lists(preds, targets)


def test_confusion_matrix_hand_computed(tmp_path):
    m = confusion_matrix(_data(), 2, conf=0.25, iou_threshold=0.45)
    # rows predicted (0, 1, background), columns true (0, 1, background)
    assert m.tolist() == [[1, 1, 0],
                          [0, 0, 1],
                          [0, 1, 0]]
    path = plot_confusion_matrix(m, tmp_path / "cm.png", ["a", "b"])
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_confidence_curves_are_the_kept_prefix(tmp_path):
    curves = pr_curves(_data(), num_classes=2)
    cc = confidence_curves(curves, grid=101)
    assert cc["labels"].tolist() == [0, 1]
    k = list(cc["conf"]).index(pytest.approx(0.5))
    # class 0 at conf 0.5: dets 0.9 (TP) and 0.8 (FP) -> P 1/2, R 1/1
    assert cc["precision"][0, k] == pytest.approx(0.5) and cc["recall"][0, k] == pytest.approx(1.0)
    # class 1 at 0.5: det 0.7 is a FP, the crowd det (0.6) is ignored -> P 0, R 0; F1 0
    assert cc["precision"][1, k] == 0 and cc["recall"][1, k] == 0 and cc["f1"][1, k] == 0
    # above every score: P 1, R 0
    assert cc["precision"][:, -1].tolist() == [1, 1] and cc["recall"][:, -1].tolist() == [0, 0]
    for which in ("precision", "recall", "f1"):
        assert plot_confidence_curve(cc, which, tmp_path / f"{which}.png", ["a", "b"]).stat().st_size > 5000
