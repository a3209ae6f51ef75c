"""mAP of rect validation (Ultralytics' default) against square letterbox, same weights, same images.

Both resize bilinearly (as Ultralytics 8.4 validates); ``square_inter_area`` is the square letterbox with INTER_AREA
shrinking (this project's validation before rect), to separate the two effects.

* shapes: the real Ultralytics checkpoint ``reference/ultralytics/yolo12n_shapes_ultralytics.pt`` (yolo12n trained on
  synthetic 3-class shapes) on ``datasets/shapes_tiny`` (train + val, 80 images, 256-384 x 256-320 px) at 256;
* coco128: ``reference/ultralytics/yolo12n_parity.pt`` (yolo12n, nc 80, only *briefly* trained on COCO — there is no
  fully trained COCO checkpoint here, so its mAP is low) on COCO128 val2017 (128 images) at 640 and 320.

    python -m benchmarks rect_vs_square [--shared $YOLO12L_SHARED]
        [--out benchmarks/results/rect_vs_square-default.json]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import cv2
import lightning as L
import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import Stopwatch, load_average
from yolo12l.data import CocoDataModule, YoloDataModule
from yolo12l.interop import convert_ultralytics_state_dict
from yolo12l.training import YOLODetector
from yolo12l.training.config import EvalConfig

KEYS = ("val/mAP50-95", "val/mAP50", "val/mAP75")


def validate(model: YOLODetector, dm: L.LightningDataModule, interpolation: int | None = cv2.INTER_LINEAR
             ) -> tuple[dict[str, float], float]:
    dm.setup("validate")
    dm.datasets["val"].eval_interpolation = interpolation
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tempfile.mkdtemp())
    with Stopwatch() as sw:
        out = trainer.validate(model, datamodule=dm, verbose=False)[0]
    return {k: round(float(out[k]), 5) for k in KEYS}, round(sw.wall, 1)


def compare(make_dm, model: YOLODetector) -> dict:
    row = {}
    for name, rect, interpolation in (("rect", True, cv2.INTER_LINEAR), ("square", False, cv2.INTER_LINEAR),
                                      ("square_inter_area", False, None)):
        metrics, secs = validate(model, make_dm(rect), interpolation)
        row[name] = {**metrics, "seconds": secs}
    row["rect_minus_square"] = {k: round(row["rect"][k] - row["square"][k], 5) for k in KEYS}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(shared_dir()))
    ap.add_argument("--out", default=str(result_path("rect_vs_square")))
    args = ap.parse_args()
    logging.getLogger("lightning").setLevel(logging.WARNING)
    shared = Path(args.shared)
    ref = shared / "reference" / "ultralytics"
    cache = Path(tempfile.mkdtemp())
    common = dict(num_workers=0, persistent_workers=False, pin_memory=False, cache_dir=cache, batch_size=16)
    record: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "loadavg": load_average()}

    shapes = YOLODetector(model="yolo12n.yaml", num_classes=3, class_names=["circle", "square", "triangle"],
                          weights=str(ref / "yolo12n_shapes_ultralytics.pt"), summary_imgsz=0,
                          evaluation=EvalConfig(save_plots=False, save_json=False))
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
        coco = YOLODetector(model="yolo12n.yaml", num_classes=80, summary_imgsz=0,
                            evaluation=EvalConfig(save_plots=False, save_json=False))
        coco.net.load_state_dict(convert_ultralytics_state_dict(state))

        def make(rect: bool, imgsz=imgsz) -> CocoDataModule:
            return CocoDataModule(root / "annotations" / "instances_val2017.json", root / "images" / "val2017",
                                  root / "annotations" / "instances_val2017.json", root / "images" / "val2017",
                                  imgsz=imgsz, rect_val=rect, **common)
        record[f"coco128_val_{imgsz}"] = compare(make, coco)
        print(f"coco128 {imgsz}", record[f"coco128_val_{imgsz}"], flush=True)
    record["loadavg_end"] = load_average()
    write_json(record, args.out)


if __name__ == "__main__":
    main()
