"""What the yolo12l and Ultralytics 8.4 training pipelines feed the network, for the same dataset and seed.

Used by ``python -m benchmarks compare_ultralytics pipeline`` (run with the Ultralytics venv, which also has yolo12l's
dependencies).
For each pipeline and phase (``mosaic``: the first epochs; ``plain``: the ``close_mosaic`` epochs) it draws every
training sample ``passes`` times and summarises: boxes per image, box width/height and centre distributions (as
fractions of the image side), the fraction of boxes cut by the image border, tiny boxes, and image statistics
(per-channel mean/std).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if x.size == 0:
        return {}
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(x.mean()), **{f"p{p}": float(v) for p, v in zip((5, 25, 50, 75, 95), q)}}


def summarise(samples: Iterator[tuple[np.ndarray, np.ndarray]], imgsz: int) -> dict:
    """samples: (image uint8 (3, H, W) RGB, boxes (n, 4) xyxy pixels)."""
    counts, ws, hs, cx, cy, border, tiny = [], [], [], [], [], [], []
    means, stds = [], []
    for img, boxes in samples:
        _, h, w = img.shape
        assert (h, w) == (imgsz, imgsz), (h, w)
        boxes = boxes.reshape(-1, 4).astype(np.float64)
        counts.append(len(boxes))
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        ws.extend(bw / w)
        hs.extend(bh / h)
        cx.extend((boxes[:, 0] + boxes[:, 2]) / 2 / w)
        cy.extend((boxes[:, 1] + boxes[:, 3]) / 2 / h)
        border.extend((boxes[:, 0] <= 0.5) | (boxes[:, 1] <= 0.5) | (boxes[:, 2] >= w - 0.5) | (boxes[:, 3] >= h - 0.5))
        tiny.extend(np.minimum(bw, bh) < 4)
        f = img.astype(np.float32)
        means.append(f.mean((1, 2)))
        stds.append(f.std((1, 2)))
    counts_a = np.array(counts)
    return {
        "images": len(counts),
        "boxes_per_image": _quantiles(counts_a.astype(float)),
        "empty_images": float((counts_a == 0).mean()),
        "box_w": _quantiles(np.array(ws)), "box_h": _quantiles(np.array(hs)),
        "box_sqrt_area": _quantiles(np.sqrt(np.array(ws) * np.array(hs))),
        "centre_x": _quantiles(np.array(cx)), "centre_y": _quantiles(np.array(cy)),
        "centre_x_hist4": np.histogram(cx, bins=4, range=(0, 1))[0].tolist(),
        "centre_y_hist4": np.histogram(cy, bins=4, range=(0, 1))[0].tolist(),
        "frac_boxes_touching_border": float(np.mean(border)) if border else 0.0,
        "frac_boxes_min_side_lt_4px": float(np.mean(tiny)) if tiny else 0.0,
        "image_channel_mean": np.mean(means, 0).round(2).tolist(),
        "image_channel_std": np.mean(stds, 0).round(2).tolist(),
    }


def yolo12l_samples(data_yaml: Path, imgsz: int, seed: int, mosaic: bool, passes: int, cache: Path
                    ) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]:
    from yolo12l.data import YoloDataModule

    dm = YoloDataModule(data_yaml=data_yaml, imgsz=imgsz, batch_size=16, num_workers=0, persistent_workers=False,
                        pin_memory=False, cache_dir=cache, close_mosaic=1)
    dm.setup("fit")
    ds = dm.datasets["train"]

    def gen():
        for p in range(passes):
            ds.set_epoch(p if mosaic else 1, total_epochs=2 if not mosaic else 10 ** 6)
            for i in range(len(ds)):
                s = ds[i]
                yield s["image"].numpy(), s["boxes"].numpy()
    return gen


def ultralytics_samples(data_yaml: Path, imgsz: int, seed: int, mosaic: bool, passes: int
                        ) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]:
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import DEFAULT_CFG

    cfg = get_cfg(DEFAULT_CFG, {"imgsz": imgsz, "data": str(data_yaml), "workers": 0, "cache": False})
    data = check_det_dataset(str(data_yaml))
    ds = build_yolo_dataset(cfg, data["train"], 16, data, mode="train", stride=32)
    if not mosaic:
        ds.close_mosaic(hyp=cfg)

    def gen():
        random.seed(seed)
        np.random.seed(seed)
        for _ in range(passes):
            for i in range(len(ds)):
                s = ds[i]
                img = s["img"].numpy()
                h, w = img.shape[1:]
                b = s["bboxes"].numpy().reshape(-1, 4) * [w, h, w, h]  # normalised xywh
                xyxy = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], 1)
                yield img, xyxy
    return gen


def source_stats(data_yaml: Path, imgsz: int) -> dict:
    """The dataset itself, each image letterboxed (long side imgsz): boxes per image and sizes."""
    import cv2

    root = data_yaml.parent
    counts, ws, hs = [], [], []
    for lbl in sorted((root / "labels" / "train").glob("*.txt")):
        rows = np.loadtxt(lbl, ndmin=2)
        img = cv2.imread(str(root / "images" / "train" / f"{lbl.stem}.jpg"))
        h, w = img.shape[:2]
        k = imgsz / max(h, w)
        counts.append(len(rows))
        ws.extend(rows[:, 3] * w * k / imgsz)
        hs.extend(rows[:, 4] * h * k / imgsz)
    return {"images": len(counts), "boxes_per_image": _quantiles(np.array(counts, float)),
            "box_w": _quantiles(np.array(ws)), "box_h": _quantiles(np.array(hs))}


def compare_pipelines(a) -> dict:
    import torch

    torch.set_num_threads(a.threads)
    root = Path(a.root)
    data_yaml = root / "data" / "data.yaml"
    out = {"imgsz": a.imgsz, "seed": a.seed, "passes": a.passes, "source_letterboxed": source_stats(data_yaml, a.imgsz)}
    for phase, mosaic in (("mosaic", True), ("plain", False)):
        out[phase] = {
            "yolo12l": summarise(yolo12l_samples(data_yaml, a.imgsz, a.seed, mosaic, a.passes, root / "cache")(),
                                 a.imgsz),
            "ultralytics": summarise(ultralytics_samples(data_yaml, a.imgsz, a.seed, mosaic, a.passes)(), a.imgsz),
        }
    path = root / "pipeline.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return out
