"""Our validation against Ultralytics 8.4.190's ``val`` (rect and square) with the real shapes checkpoint.

Both runs' ``predictions.json`` are scored by the same COCO metric (ours, = pycocotools) on shapes_tiny val, and their
confident detections (score > 0.25) are matched per image and class: equal letterboxing gives equal boxes. Needs
Ultralytics (the runner switches to ``$YOLO12L_UL_PYTHON``, which also has yolo12l's dependencies):

    python -m benchmarks ultralytics_val_compare [--shared $YOLO12L_SHARED]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import lightning as L
import numpy as np
import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import load_average
from yolo12l.data import YoloDataModule
from yolo12l.metrics import COCOMeanAveragePrecision
from yolo12l.training import YOLODetector
from yolo12l.training.config import EvalConfig


def score(preds: list[dict], records: list, offset: int) -> float:
    """COCO mAP50-95 of a COCO results list (category id = class + offset) against the parsed records."""
    by: dict[int, list[dict]] = {r.image_id: [] for r in records}
    for p in preds:
        by[int(p["image_id"])].append(p)
    m = COCOMeanAveragePrecision(num_classes=3)
    pr, tg = [], []
    for r in records:
        ps = by[r.image_id]
        pr.append({"boxes": torch.tensor([[p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2],
                                           p["bbox"][1] + p["bbox"][3]] for p in ps]).reshape(-1, 4),
                   "scores": torch.tensor([p["score"] for p in ps]),
                   "labels": torch.tensor([int(p["category_id"]) - offset for p in ps])})
        tg.append({"boxes": torch.from_numpy(r.boxes), "labels": torch.from_numpy(r.labels), "image_id": r.image_id})
    m.update(pr, tg)
    return float(m.compute()["mAP50-95"])


def match(ours: list[dict], theirs: list[dict]) -> dict:
    """Per confident detection of ours: the largest coordinate difference (px) to the nearest of theirs."""
    diffs = []
    for p in (p for p in ours if p["score"] > 0.25):
        cands = [q for q in theirs if q["image_id"] == p["image_id"] and q["category_id"] - 1 == p["category_id"]]
        d = [max(abs(x - y) for x, y in zip(p["bbox"], q["bbox"])) for q in cands]
        diffs.append(min(d) if d else float("inf"))
    d = np.array(diffs)
    return {"confident": len(d), "median_px": float(np.median(d)), "p95_px": float(np.percentile(d, 95)),
            "within_0.01px": int((d < 0.01).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(shared_dir()))
    ap.add_argument("--out", default=str(result_path("ultralytics_val_compare")))
    args = ap.parse_args()
    from ultralytics import YOLO

    shared, work = Path(args.shared), Path(tempfile.mkdtemp())
    ckpt = shared / "reference" / "ultralytics" / "yolo12n_shapes_ultralytics.pt"
    data_yaml = work / "shapes_val.yaml"
    data_yaml.write_text(f"path: {shared / 'datasets' / 'shapes_tiny'}\ntrain: images/train\nval: images/val\n"
                         "names: {0: circle, 1: square, 2: triangle}\n")
    model = YOLODetector(model="yolo12n.yaml", num_classes=3, class_names=["circle", "square", "triangle"],
                         weights=str(ckpt), summary_imgsz=0, evaluation=EvalConfig(save_plots=False))
    record: dict = {"loadavg": load_average(), "imgsz": 256}
    for rect in (True, False):
        ul = YOLO(str(ckpt)).val(data=str(data_yaml), imgsz=256, batch=16, rect=rect, device="cpu", workers=0,
                                 plots=False, verbose=False, project=str(work), name=f"ul{rect}", save_json=True,
                                 conf=0.001, iou=0.7)
        theirs = json.loads((Path(ul.save_dir) / "predictions.json").read_text())
        dm = YoloDataModule(data_yaml, imgsz=256, batch_size=16, num_workers=0, persistent_workers=False,
                            pin_memory=False, cache_dir=work / "cache", rect_val=rect)
        tr = L.Trainer(accelerator="cpu", logger=L.pytorch.loggers.CSVLogger(work, name=f"ours{rect}"),
                       enable_progress_bar=False, enable_model_summary=False)
        logged = tr.validate(model, datamodule=dm, verbose=False)[0]["val/mAP50-95"]
        ours = json.loads((Path(tr.log_dir) / "predictions.json").read_text())
        records = dm.datasets["val"].records
        record["rect" if rect else "square"] = {
            "ours_logged_mAP50-95": float(logged), "ours_json_mAP50-95": score(ours, records, 0),
            "ultralytics_json_mAP50-95": score(theirs, records, 1),
            "ultralytics_own_metric_mAP50-95": float(ul.box.map),
            "detections": {"ours": len(ours), "ultralytics": len(theirs)}, "boxes": match(ours, theirs)}
        print(record["rect" if rect else "square"], flush=True)
    write_json(record, args.out)


if __name__ == "__main__":
    main()
