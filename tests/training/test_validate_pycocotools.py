"""``validate`` writes predictions.json and its val/mAP50-95 equals pycocotools on the original annotation file.

The fixture is a COCO JSON written here (never seen by the project): images of several aspect ratios, non-contiguous
category ids, crowd regions, segmentation areas that differ from the box areas (so small / medium / large differ
from a box-area split). The detector is an oracle (ground truth jittered, wrong classes, false positives, and
detections inside the crowd regions), so the numbers are far from 0 and 1 and crowd handling matters.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from yolo12l.data import CocoDataModule
from yolo12l.training import YOLODetector
from yolo12l.training.config import EvalConfig

CATEGORIES = [{"id": 3, "name": "car"}, {"id": 7, "name": "train"}, {"id": 11, "name": "hydrant"}]


def write_coco_fixture(root: Path, seed: int = 0, n_images: int = 14) -> Path:
    """Images + ``instances.json`` with crowd regions and areas = box area x U(0.3, 0.95); returns the JSON path."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    (root / "images").mkdir(parents=True)
    for i in range(n_images):
        w, h = [(160, 96), (96, 160), (128, 128), (200, 112)][i % 4]
        image_id = 5000 + 13 * i
        name = f"im{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / name)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for k in range(int(rng.integers(1, 7))):
            bw, bh = rng.uniform(3, w * 0.6), rng.uniform(3, h * 0.6)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            crowd = int(k == 0 and i % 3 == 0)
            area = bw * bh * (1.0 if crowd else rng.uniform(0.3, 0.95))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": CATEGORIES[int(rng.integers(3))]["id"], "bbox": [x, y, bw, bh],
                                "area": area, "iscrowd": crowd, "segmentation": [[x, y, x + bw, y, x, y + bh]]})
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return path


def oracle(dm: CocoDataModule, seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def detect(batch, conf=None):
        out = []
        for meta in batch["meta"]:
            gt = torch.as_tensor(meta["boxes"], dtype=torch.float32).reshape(-1, 4)
            labels = torch.as_tensor(meta["labels"]).reshape(-1).clone()
            labels[::4] = (labels[::4] + 1) % dm.num_classes
            crowd = torch.as_tensor(meta["crowd_boxes"], dtype=torch.float32).reshape(-1, 4)
            inside = crowd.repeat_interleave(3, 0) * torch.tensor([1.0, 1.0, 0.5, 0.5]) + crowd.repeat_interleave(
                3, 0)[:, :2].repeat(1, 2) * torch.tensor([0.0, 0.0, 0.5, 0.5])  # boxes in the crowd region
            boxes = torch.cat([gt + torch.randn(gt.shape, generator=g) * 1.5, inside,
                               torch.tensor([[0.0, 0.0, 12.0, 12.0]])])
            h, w = meta["orig_shape"]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
            crowd_labels = torch.as_tensor(meta["crowd_labels"]).reshape(-1).repeat_interleave(3)
            out.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=g),
                        "labels": torch.cat([labels, crowd_labels, torch.tensor([1])]).long()})
        return out

    return detect


def pycocotools_stats(annotations: Path, predictions: Path, use_box_area: bool = False,
                      drop_crowd: bool = False) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        if use_box_area or drop_crowd:  # the old, wrong semantics, for the measured difference
            anns = [a for a in gt.dataset["annotations"] if not (drop_crowd and a["iscrowd"])]
            for a in anns:
                a["area"] = a["bbox"][2] * a["bbox"][3] if use_box_area else a["area"]
            gt.dataset["annotations"] = anns
            gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(str(predictions)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("rect", [True, False])
def test_validate_predictions_json_equals_pycocotools(tmp_path, monkeypatch, rect):
    ann = write_coco_fixture(tmp_path / "ds")
    dm = CocoDataModule(ann, tmp_path / "ds" / "images", ann, tmp_path / "ds" / "images", imgsz=64, batch_size=4,
                        num_workers=0, persistent_workers=False, pin_memory=False, cache_dir=tmp_path / "cache",
                        rect_val=rect)
    model = YOLODetector(num_classes=dm.num_classes, class_names=dm.class_names,
                         label_to_category_id=dm.label_to_category_id, summary_imgsz=0,
                         evaluation=EvalConfig(save_plots=False))
    monkeypatch.setattr(model, "detect", oracle(dm))
    logger = L.pytorch.loggers.CSVLogger(tmp_path / "run", name="v")
    trainer = L.Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.validate(model, datamodule=dm, verbose=False)[0]
    run = Path(trainer.log_dir)
    predictions = json.loads((run / "predictions.json").read_text())
    original = json.loads(ann.read_text())
    assert {p["image_id"] for p in predictions} == {im["id"] for im in original["images"]}
    assert {p["category_id"] for p in predictions} <= {c["id"] for c in CATEGORIES}

    stats = pycocotools_stats(ann, run / "predictions.json")
    assert 0.15 < stats[0] < 0.9
    assert metrics["val/mAP50-95"] == pytest.approx(stats[0], abs=1e-4)
    assert metrics["val/mAP50"] == pytest.approx(stats[1], abs=1e-4)
    record = json.loads((run / "val_metrics.jsonl").read_text().splitlines()[-1])
    for k, key in ((3, "mAP_small"), (4, "mAP_medium"), (5, "mAP_large")):
        assert record[key] == pytest.approx(stats[k], abs=1e-4), key
    # both semantics matter on this fixture: the old ones (crowd dropped, box areas) give other numbers
    old = pycocotools_stats(ann, run / "predictions.json", use_box_area=True, drop_crowd=True)
    assert old[0] < stats[0] - 0.01 and abs(old[3] - stats[3]) + abs(old[4] - stats[4]) > 0.01
