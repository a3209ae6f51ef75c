"""Held-out check: ``validate``'s val/mAP50-95 against pycocotools on the original annotation file + predictions.json.

The annotation file is COCO128 val2017 rewritten here (data the project has not seen): every 8th annotation becomes
a crowd region and every area is the box area x U(0.35, 0.95) (COCO's ``area`` is the segmentation area). The
network is ``reference/ultralytics/yolo12n_parity.pt`` (yolo12n, nc 80, briefly trained on COCO: real, low-mAP
detections). Also reports what the old semantics (crowd dropped, box areas) would give on the same predictions.

    PYTHONPATH=. python benchmarks/heldout_pycocotools.py [--imgsz 320] [--shared ../shared]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import lightning as L
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json  # noqa: E402

from yolo12l.data import CocoDataModule  # noqa: E402
from yolo12l.models.convert import convert_ultralytics_state_dict  # noqa: E402
from yolo12l.training import YOLODetector  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", default="benchmarks/results/heldout_pycocotools.json")
    args = ap.parse_args()
    shared = Path(args.shared)
    root = shared / "datasets" / "coco128"
    work = Path(tempfile.mkdtemp())
    data = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    rng = np.random.default_rng(0)
    for k, a in enumerate(data["annotations"]):
        a["iscrowd"] = int(k % 8 == 0)
        a["area"] = a["bbox"][2] * a["bbox"][3] * (1.0 if a["iscrowd"] else float(rng.uniform(0.35, 0.95)))
    ann = work / "instances_val2017_heldout.json"
    ann.write_text(json.dumps(data))

    model = YOLODetector(model="yolo12n.yaml", num_classes=80, save_plots=False, summary_imgsz=0,
                         label_to_category_id=sorted(c["id"] for c in data["categories"]))
    state = torch.load(shared / "reference" / "ultralytics" / "yolo12n_parity.pt", map_location="cpu",
                       weights_only=True)["state_dict"]
    model.net.load_state_dict(convert_ultralytics_state_dict(state))
    record: dict = {"imgsz": args.imgsz, "loadavg": os.getloadavg(), "annotations": "COCO128 val2017, every 8th "
                    "annotation crowd, areas = box area x U(0.35, 0.95)"}
    for rect in (True, False):
        dm = CocoDataModule(ann, root / "images" / "val2017", ann, root / "images" / "val2017", imgsz=args.imgsz,
                            batch_size=16, num_workers=0, persistent_workers=False, pin_memory=False,
                            cache_dir=work / "cache", rect_val=rect)
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
