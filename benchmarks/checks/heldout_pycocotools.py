"""Held-out check: ``validate``'s val/mAP50-95 against pycocotools on the original annotation file + predictions.json.

The annotation file is written here from ``datasets/shapes_tiny`` (train + val, 80 images, YOLO txt) as COCO JSON
the project has never seen: non-contiguous category ids (2, 5, 9), every 6th object a crowd region, every area the
box area x U(0.35, 0.95) (COCO's ``area`` is the segmentation area). The network is the real Ultralytics checkpoint
``reference/ultralytics/yolo12n_shapes_ultralytics.pt`` (mAP ~0.6 on this data), at 256, rect and square. Also
reports what the old semantics (crowd dropped, box areas) give on the same predictions.

    python -m benchmarks heldout_pycocotools [--shared $YOLO12L_SHARED]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import lightning as L
import numpy as np

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import load_average
from yolo12l.data import CocoDataModule
from yolo12l.training import YOLODetector
from yolo12l.training.config import EvalConfig

STATS = ("mAP50-95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large")


def cocoeval(gt_file: Path, dt_file: Path, old_semantics: bool = False) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        if old_semantics:
            gt.dataset["annotations"] = [{**a, "area": a["bbox"][2] * a["bbox"][3]}
                                         for a in gt.dataset["annotations"] if not a["iscrowd"]]
            gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(str(dt_file)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats[: len(STATS)]]


def shapes_as_coco(root: Path, images_out: Path, seed: int = 0) -> dict:
    """COCO instances dict of shapes_tiny train + val (images linked into ``images_out``)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    cat_ids = [2, 5, 9]
    images, annotations = [], []
    images_out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        for f in sorted((root / "images" / split).glob("*.jpg")):
            image_id = len(images) + 100
            link = images_out / f"{split}_{f.name}"
            link.symlink_to(f)
            w, h = Image.open(f).size
            images.append({"id": image_id, "file_name": link.name, "width": w, "height": h})
            for line in (root / "labels" / split / f"{f.stem}.txt").read_text().split("\n"):
                if not line.strip():
                    continue
                c, cx, cy, bw, bh = (float(v) for v in line.split())
                box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
                crowd = int(len(annotations) % 6 == 0)
                area = box[2] * box[3] * (1.0 if crowd else float(rng.uniform(0.35, 0.95)))
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat_ids[int(c)],
                                    "bbox": box, "area": area, "iscrowd": crowd})
    names = ["circle", "square", "triangle"]
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for i, n in zip(cat_ids, names)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(shared_dir()))
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--out", default=str(result_path("heldout_pycocotools")))
    args = ap.parse_args()
    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp())
    data = shapes_as_coco(shared / "datasets" / "shapes_tiny", work / "images")
    ann = work / "instances_shapes_heldout.json"
    ann.write_text(json.dumps(data))
    model = YOLODetector(model="yolo12n.yaml", num_classes=3, class_names=["circle", "square", "triangle"],
                         weights=str(shared / "reference" / "ultralytics" / "yolo12n_shapes_ultralytics.pt"),
                         label_to_category_id=[2, 5, 9], summary_imgsz=0, evaluation=EvalConfig(save_plots=False))
    record: dict = {"imgsz": args.imgsz, "loadavg": load_average(),
                    "annotations": f"shapes_tiny train+val as COCO JSON: {len(data['images'])} images, "
                                   f"{len(data['annotations'])} objects, "
                                   f"{sum(a['iscrowd'] for a in data['annotations'])} crowd, areas = box x U(.35,.95)"}
    for rect in (True, False):
        dm = CocoDataModule(ann, work / "images", ann, work / "images", imgsz=args.imgsz, batch_size=16,
                            num_workers=0, persistent_workers=False, pin_memory=False, cache_dir=work / "cache",
                            rect_val=rect)
        trainer = L.Trainer(accelerator="cpu", logger=L.pytorch.loggers.CSVLogger(work, name=f"rect{rect}"),
                            enable_progress_bar=False, enable_model_summary=False)
        metrics = trainer.validate(model, datamodule=dm, verbose=False)[0]
        run = Path(trainer.log_dir)
        line = json.loads((run / "val_metrics.jsonl").read_text().splitlines()[-1])
        ours = [float(metrics["val/" + k]) if "val/" + k in metrics else line[k] for k in STATS]
        official = cocoeval(ann, run / "predictions.json")
        old = cocoeval(ann, run / "predictions.json", old_semantics=True)
        n_det = len(json.loads((run / "predictions.json").read_text()))
        record["rect" if rect else "square"] = {
            "validate": dict(zip(STATS, ours)), "pycocotools": dict(zip(STATS, official)),
            "max_abs_difference": max(abs(a - b) for a, b in zip(ours, official)),
            "old_semantics_pycocotools": dict(zip(STATS, old)), "detections": n_det}
        print(json.dumps(record["rect" if rect else "square"], indent=1), flush=True)
    write_json(record, args.out)


if __name__ == "__main__":
    main()
