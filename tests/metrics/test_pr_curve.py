"""Per-class PR curves and their plot."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo12l.metrics import COCOMeanAveragePrecision, pr_curves, plot_pr_curves, voc_ap


def _data():
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30]]),
                "labels": torch.tensor([0, 0, 1]), "image_id": 1}]
    preds = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [40, 40, 50, 50], [20, 0, 30, 10], [0, 20, 10, 30]]),
              "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.tensor([0, 0, 0, 2])}]
    return preds, targets


def test_pr_curves_hand_computed():
    curves = pr_curves(_data(), num_classes=3)
    c0 = curves[0]
    assert c0.num_gt == 2
    np.testing.assert_allclose(c0.scores, [0.9, 0.8, 0.7], rtol=1e-6)
    np.testing.assert_allclose(c0.precision, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(c0.recall, [0.5, 0.5, 1.0])
    assert curves[1].num_gt == 1 and len(curves[1].precision) == 0  # missed
    assert curves[2].num_gt == 0 and np.isnan(curves[2].recall).all()  # false positive of a class without GT
    assert voc_ap(c0.recall, c0.precision) == pytest.approx(0.5 + 1 / 3)


def test_metric_pr_curves_and_png(tmp_path):
    preds, targets = _data()
    m = COCOMeanAveragePrecision(num_classes=3)
    m.update(preds, targets)
    curves = pr_curves(m.synced_data(), num_classes=3)
    np.testing.assert_allclose(curves[0].precision, [1.0, 0.5, 2 / 3])
    path = plot_pr_curves(curves, tmp_path / "plots" / "pr.png", names=["cat", "dog", "bird"])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
