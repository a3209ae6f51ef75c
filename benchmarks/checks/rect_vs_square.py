"""mAP of rect validation (Ultralytics' default) against square letterbox, same weights, same images.

Both resize bilinearly (as Ultralytics 8.4 validates); ``square_inter_area`` is the square letterbox with INTER_AREA
shrinking (this project's validation before rect), to separate the two effects.

* shapes: the real Ultralytics checkpoint ``reference/ultralytics/yolo12n_shapes_ultralytics.pt`` (yolo12n trained on
  synthetic 3-class shapes) on ``datasets/shapes_tiny`` (train + val, 80 images, 256-384 x 256-320 px) at 256;
* coco128: ``reference/ultralytics/yolo12n_parity.pt`` (yolo12n, nc 80, only *briefly* trained on COCO — there is no
  fully trained COCO checkpoint here, so its mAP is low) on COCO128 val2017 (128 images) at 640 and 320.

    PYTHONPATH=. python benchmarks/rect_vs_square.py [--shared ../shared] [--out benchmarks/results/rect_vs_square.json]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402

from yolo12l.data import CocoDataModule, YoloDataModule  # noqa: E402
from yolo12l.models.convert import convert_ultralytics_state_dict  # noqa: E402
from yolo12l.training import YOLODetector  # noqa: E402

KEYS = ("val/mAP50-95", "val/mAP50", "val/mAP75")


def validate(model: YOLODetector, dm: L.LightningDataModule, interpolation: int | None = cv2.INTER_LINEAR
             ) -> tuple[dict[str, float], float]:
    dm.setup("validate")
    dm.datasets["val"].eval_interpolation = interpolation
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tempfile.mkdtemp())
    t0 = time.perf_counter()
    out = trainer.validate(model, datamodule=dm, verbose=False)[0]
    return {k: round(float(out[k]), 5) for k in KEYS}, round(time.perf_counter() - t0, 1)


def compare(make_dm, model: YOLODetector) -> dict:
    row = {}
    for name, rect, interpolation in (("rect", True, cv2.INTER_LINEAR), ("square", False, cv2.INTER_LINEAR),
                                      ("square_inter_area", False, None)):
        metrics, secs = validate(model, make_dm(rect), interpolation)
        row[name] = {**metrics, "seconds": secs}
    row["rect_minus_square"] = {k: round(row["rect"][k] - row["square"][k], 5) for k in KEYS}
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    ap.add_argument("--out", default="benchmarks/results/rect_vs_square.json")
    args = ap.parse_args()
    logging.getLogger("lightning").setLevel(logging.WARNING)
    shared = Path(args.shared)
    ref = shared / "reference" / "ultralytics"
    cache = Path(tempfile.mkdtemp())
    common = dict(num_workers=0, persistent_workers=False, pin_memory=False, cache_dir=cache, batch_size=16)
    record: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "loadavg": os.getloadavg()}

    shapes = YOLODetector(model="yolo12n.yaml", num_classes=3, class_names=["circle", "square", "triangle"],
                          weights=str(ref / "yolo12n_shapes_ultralytics.pt"), save_plots=False, save_json=False,
                          summary_imgsz=0)
    root = shared / "datasets" / "shapes_tiny"
    for split in ("val", "train"):  # the 64 training images too: a larger sample of the same distribution
        data_yaml = cache / f"shapes_{split}.yaml"
        data_yaml.write_text(f"path: {root}\ntrain: images/train\nval: images/{split}\n"
                             "names: {0: circle, 1: square, 2: triangle}\n")

        def make(rect: bool, data_yaml=data_yaml) -> YoloDataModule:
            return YoloDataModule(data_yaml, imgsz=256, rect_val=rect, **common)
        record[f"shapes_{split}_256"] = compare(make, shapes)
        print(f"shapes {split}", record[f"shapes_{split}_256"], flush=True)

    state = torch.load(ref / "yolo12n_parity.pt", map_location="cpu", weights_only=True)["state_dict"]
    root = shared / "datasets" / "coco128"
    for imgsz in (640, 320):
        coco = YOLODetector(model="yolo12n.yaml", num_classes=80, save_plots=False, save_json=False, summary_imgsz=0)
        coco.net.load_state_dict(convert_ultralytics_state_dict(state))

        def make(rect: bool, imgsz=imgsz) -> CocoDataModule:
            return CocoDataModule(root / "annotations" / "instances_val2017.json", root / "images" / "val2017",
                                  root / "annotations" / "instances_val2017.json", root / "images" / "val2017",
                                  imgsz=imgsz, rect_val=rect, **common)
        record[f"coco128_val_{imgsz}"] = compare(make, coco)
        print(f"coco128 {imgsz}", record[f"coco128_val_{imgsz}"], flush=True)
    record["loadavg_end"] = os.getloadavg()
    write_json(record, args.out)


if __name__ == "__main__":
    main()
