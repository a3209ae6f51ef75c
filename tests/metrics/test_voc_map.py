"""VOC mAP@0.5: all-point AP on hand-computed cases and against a loop-based devkit-style reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo12l.metrics import VOCMeanAveragePrecision, voc_ap


def test_voc_ap_hand_computed():
    # hits at ranks 1 and 3 of 3 detections, 2 ground truths: recall .5 .5 1, precision 1 .5 2/3.
    # envelope: 1 on (0, .5], 2/3 on (.5, 1] -> AP = .5 * 1 + .5 * 2/3
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 1 / 3)
    assert voc_ap(np.array([0.25, 0.5]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert voc_ap(np.array([]), np.array([])) == 0.0


def _one_image(boxes, scores, gt, crowd=None):
    t = {"boxes": torch.tensor(gt, dtype=torch.float32), "labels": torch.zeros(len(gt), dtype=torch.long),
         "image_id": 0}
    if crowd is not None:
        t["iscrowd"] = torch.tensor(crowd)
    p = {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
         "labels": torch.zeros(len(boxes), dtype=torch.long)}
    return [p], [t]


def test_voc_metric_hand_computed():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    # 0.9 hits gt 0, 0.8 hits gt 0 again (FP: already taken), 0.7 hits gt 1
    preds, targets = _one_image([[0, 0, 10, 10], [0, 0, 10, 9], [20, 0, 30, 10]], [0.9, 0.8, 0.7], gt)
    m = VOCMeanAveragePrecision(num_classes=2)
    m.update(preds, targets)
    r = m.compute()
    assert r["mAP50"].item() == pytest.approx(0.5 + 1 / 3)
    assert r["per_class_ap50"].tolist() == pytest.approx([0.5 + 1 / 3, -1.0])


def test_voc_threshold_is_strict_and_difficult_is_ignored():
    # IoU exactly 0.5 is a miss (devkit: ovmax > 0.5)
    preds, targets = _one_image([[0, 0, 10, 10]], [0.9], [[0, 0, 10, 20]])
    m = VOCMeanAveragePrecision()
    m.update(preds, targets)
    assert m.compute()["mAP50"].item() == 0.0
    # a detection on a difficult (crowd) box is ignored: AP stays 1
    preds, targets = _one_image([[50, 50, 70, 70], [0, 0, 10, 10]], [0.9, 0.8], [[0, 0, 10, 10], [50, 50, 70, 70]],
                                crowd=[0, 1])
    m = VOCMeanAveragePrecision()
    m.update(preds, targets)
    assert m.compute()["mAP50"].item() == pytest.approx(1.0)


def _devkit_reference(preds, targets, nc, thr=0.5):
    """Per-detection loop as in the VOC devkit's voc_eval (continuous coordinates)."""
    aps = []
    for c in range(nc):
        gts = {}
        npos = 0
        for i, t in enumerate(targets):
            sel = t["labels"] == c
            crowd = t["iscrowd"][sel].bool().numpy()
            gts[i] = (t["boxes"][sel].double().numpy(), crowd, np.zeros(len(crowd), dtype=bool))
            npos += int((~crowd).sum())
        dets = [(float(s), i, b) for i, p in enumerate(preds)
                for b, s, lab in zip(p["boxes"].double().numpy(), p["scores"].tolist(), p["labels"].tolist())
                if lab == c]
        dets.sort(key=lambda d: -d[0])
        tp, fp = [], []
        for _, i, b in dets:
            g, crowd, used = gts[i]
            ovmax, jmax = -np.inf, -1
            for j, gb in enumerate(g):
                iw = max(min(b[2], gb[2]) - max(b[0], gb[0]), 0.0)
                ih = max(min(b[3], gb[3]) - max(b[1], gb[1]), 0.0)
                inter = iw * ih
                iou = inter / ((b[2] - b[0]) * (b[3] - b[1]) + (gb[2] - gb[0]) * (gb[3] - gb[1]) - inter)
                if iou > ovmax:
                    ovmax, jmax = iou, j
            if ovmax > thr:
                if crowd[jmax]:
                    continue
                if not used[jmax]:
                    used[jmax] = True
                    tp.append(1), fp.append(0)
                else:
                    tp.append(0), fp.append(1)
            else:
                tp.append(0), fp.append(1)
        if npos == 0:
            continue
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        aps.append(voc_ap(tp / npos, tp / np.maximum(tp + fp, 1e-12)))
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voc_equals_devkit_style_reference(seed, make_detections):
    preds, targets = make_detections(seed, n_images=20)
    m = VOCMeanAveragePrecision(num_classes=4)
    for i in range(0, 20, 6):
        m.update(preds[i : i + 6], targets[i : i + 6])
    r = m.compute()
    assert r["mAP50"].item() == pytest.approx(_devkit_reference(preds, targets, 4), abs=1e-12)
    assert 0.2 < r["mAP50"].item() < 0.95


def test_voc_perfect_predictions(make_detections):
    _, targets = make_detections(1, crowd=False)
    preds = [{"boxes": t["boxes"], "scores": torch.ones(len(t["labels"])), "labels": t["labels"]} for t in targets]
    m = VOCMeanAveragePrecision(num_classes=4)
    m.update(preds, targets)
    assert m.compute()["mAP50"].item() == pytest.approx(1.0)


def test_voc2007_11_point_ap():
    # same curve as above: max precision at recall >= t is 1 for t in {0, .1, ..., .5} (6 points) and 2/3 for
    # t in {.6, ..., 1} (5 points) -> (6 + 5 * 2/3) / 11
    r, p = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(r, p, "11_point") == pytest.approx((6 + 5 * 2 / 3) / 11)
    # recall never reaches .6: those 5 points are 0
    assert voc_ap(np.array([0.25, 0.5]), np.array([1.0, 1.0]), "11_point") == pytest.approx(6 / 11)
    with pytest.raises(ValueError, match="method"):
        voc_ap(r, p, "101_point")
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    preds, targets = _one_image([[0, 0, 10, 10], [0, 0, 10, 9], [20, 0, 30, 10]], [0.9, 0.8, 0.7], gt)
    m = VOCMeanAveragePrecision(num_classes=1, ap_method="11_point")
    m.update(preds, targets)
    assert m.compute()["mAP50"].item() == pytest.approx((6 + 5 * 2 / 3) / 11)
    with pytest.raises(ValueError, match="ap_method"):
        VOCMeanAveragePrecision(ap_method="x")
