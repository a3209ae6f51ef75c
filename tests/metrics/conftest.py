"""Random detection datasets for the metric tests."""
from __future__ import annotations

import pytest
import torch


def random_detections(seed: int, n_images: int = 12, nc: int = 4, crowd: bool = True):
    """(preds, targets) in the metrics' update format: noisy, partly missed, partly duplicated ground truth plus
    random false positives; some images without ground truth; some crowd boxes when ``crowd``."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i in range(n_images):
        m = int(torch.randint(0, 6, (1,), generator=g))
        xy = torch.rand(m, 2, generator=g) * 300
        wh = torch.rand(m, 2, generator=g) * 120 + 4
        boxes = torch.cat((xy, xy + wh), 1)
        labels = torch.randint(0, nc, (m,), generator=g)
        iscrowd = (torch.rand(m, generator=g) < 0.15).long() if crowd else torch.zeros(m, dtype=torch.long)
        targets.append({"boxes": boxes, "labels": labels, "image_id": 1000 + 7 * i, "iscrowd": iscrowd,
                        "orig_shape": (480, 640)})
        found = torch.rand(m, generator=g) < 0.8
        det = boxes[found] + torch.randn(int(found.sum()), 4, generator=g) * wh[found].repeat(1, 2) * 0.08
        det_labels = labels[found].clone()
        flip = torch.rand(len(det_labels), generator=g) < 0.1
        det_labels[flip] = torch.randint(0, nc, (int(flip.sum()),), generator=g)
        k = int(torch.randint(0, 4, (1,), generator=g))
        fxy = torch.rand(k, 2, generator=g) * 300
        fp = torch.cat((fxy, fxy + torch.rand(k, 2, generator=g) * 80 + 4), 1)
        dup = det[: len(det) // 2] + torch.randn(len(det) // 2, 4, generator=g) * 3
        all_boxes = torch.cat((det, fp, dup))
        all_labels = torch.cat((det_labels, torch.randint(0, nc, (k,), generator=g), det_labels[: len(det) // 2]))
        scores = torch.rand(len(all_boxes), generator=g)
        preds.append({"boxes": all_boxes, "scores": scores, "labels": all_labels})
    return preds, targets


@pytest.fixture
def make_detections():
    return random_detections
