"""Evaluation reports as a Lightning callback (beside ``plots.TrainingPlots``): ``<stage>_metrics.jsonl`` after every
evaluation, and for the final one ``predictions.json`` and the plots (PR curves, confusion matrix, P / R / F1 against
confidence, the first batch with its predictions; also to TensorBoard).

The module computes the metrics (:func:`evaluate`, a collective under DDP, on the targets of :func:`eval_target`) and
hands them over in ``pl_module.last_evaluation``; this callback only writes (rank 0). The final evaluation's files are
written in ``on_train_end`` during ``fit`` — after the last epoch's checkpoints (``ModelCheckpoint`` saves in the
epoch's hooks) — and in ``on_validation_end`` / ``on_test_end`` otherwise. A file that cannot be written is a warning
naming it (:func:`~yolo12l.training.reports.report_file`), never the end of the run.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ..metrics import (COCOMeanAveragePrecision, coco_results, confidence_curves, confusion_matrix,
                       plot_confidence_curve, plot_confusion_matrix, plot_pr_curves, pr_curves, voc_ap)
from .plots import final_epoch, log_images
from .prediction_writer import save_prediction_grid
from .reports import report_file

log = logging.getLogger(__name__)
LOGGED_MAP_KEYS = ("mAP50-95", "mAP50", "mAP75", "mAP50_voc", "mAP50_voc07")
SIZE_MAP_KEYS = ("mAP_small", "mAP_medium", "mAP_large")  # COCO's areas < 32², < 96², above (original pixels)
CONFUSION_CONF, CONFUSION_IOU = 0.25, 0.45  # Ultralytics' confusion-matrix thresholds


@dataclass
class Evaluation:
    """One evaluation's results: ``result`` (the COCO / VOC numbers), ``data`` (all ranks' detections and targets,
    :meth:`~yolo12l.metrics.COCOMeanAveragePrecision.synced_data`), ``curves`` (PR curves at IoU 0.5 per class) and
    the first batch's predictions (dicts of boxes (N, 4), scores (N,), labels (N,) and meta)."""

    stage: str
    result: dict[str, Any]
    data: Any
    curves: dict
    first_batch: list[dict[str, Any]] = field(default_factory=list)


def eval_target(meta: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The metric's target for one image: its boxes plus its crowd / difficult regions (``iscrowd`` 1) and the
    annotation areas (-1: box area), all in original pixels."""

    def get(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        value = meta.get(key)
        return (torch.zeros(shape, dtype=dtype, device=device) if value is None
                else torch.as_tensor(value, dtype=dtype, device=device).reshape(-1, *shape[1:]))

    boxes, labels = get("boxes", (0, 4), torch.float32), get("labels", (0,), torch.long)
    crowd, crowd_labels = get("crowd_boxes", (0, 4), torch.float32), get("crowd_labels", (0,), torch.long)
    areas, crowd_areas = get("areas", (0,), torch.float32), get("crowd_areas", (0,), torch.float32)
    if len(areas) != len(boxes):
        areas = torch.full((len(boxes),), -1.0, device=device)
    if len(crowd_areas) != len(crowd):
        crowd_areas = torch.full((len(crowd),), -1.0, device=device)
    return {"boxes": torch.cat((boxes, crowd)), "labels": torch.cat((labels, crowd_labels)),
            "iscrowd": torch.cat((torch.zeros(len(boxes), dtype=torch.long, device=device),
                                  torch.ones(len(crowd), dtype=torch.long, device=device))),
            "area": torch.cat((areas, crowd_areas)), "image_id": int(meta["image_id"]),
            "orig_shape": tuple(meta["orig_shape"])}


def evaluate(metric: COCOMeanAveragePrecision, stage: str, num_classes: int,
             first_batch: list[dict[str, Any]] | None = None) -> Evaluation:
    """The epoch's COCO numbers of all ranks' data plus VOC2010+ all-point / VOC2007 11-point AP at IoU 0.5
    (``mAP50_voc`` / ``mAP50_voc07``), with the data and PR curves the reports draw; resets ``metric``. Two
    collectives under DDP: every rank must call it."""
    result = dict(metric.compute())  # COCO numbers of all ranks' data (a collective under DDP)
    data = metric.synced_data()  # the same data for curves, plots and predictions.json (a collective)
    metric.reset()
    curves = pr_curves(data, 0.5, num_classes)
    for key, method in (("mAP50_voc", "all_point"), ("mAP50_voc07", "11_point")):
        aps = [voc_ap(c.recall, c.precision, method) for c in curves.values() if c.num_gt > 0]
        result[key] = float(np.mean(aps)) if aps else -1.0
    return Evaluation(stage, result, data, curves, first_batch or [])


class EvaluationReports(L.Callback):
    """Writes what :class:`Evaluation` the module left in ``pl_module.last_evaluation`` (see the module
    docstring)."""

    def __init__(self) -> None:
        self._pending: tuple[Evaluation, Path] | None = None
        self._fit_start: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_start = time.monotonic()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer, pl_module)
        if trainer.state.fn != "fit":  # in fit: on_train_end, after ModelCheckpoint saved the last epoch
            self._write(trainer, pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer, pl_module)
        self._write(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module)

    def _record(self, trainer: L.Trainer, pl_module: Any) -> None:
        """The metrics record (rank 0) and, for the final evaluation, the reports to write."""
        ev, pl_module.last_evaluation = getattr(pl_module, "last_evaluation", None), None
        log_dir = trainer.log_dir  # broadcast from rank 0 under DDP: every rank must ask, or rank 0 waits forever
        if ev is None or not trainer.is_global_zero or not log_dir or trainer.sanity_checking:
            return
        folder = Path(log_dir)
        if final_epoch(trainer):  # always on validate / test; in fit at the last epoch (or a stop)
            self._pending = (ev, folder)
        result, per_class, names = ev.result, ev.result.get("per_class_ap"), pl_module.net.names
        record = {
            "epoch": pl_module.current_epoch, "step": pl_module.global_step,
            **{k: float(result[k]) for k in LOGGED_MAP_KEYS},
            **{k: float(result[k]) for k in (*SIZE_MAP_KEYS, "mAR100")},
            "num_images": int(result.get("num_images", -1)),
            "num_duplicates": int(result.get("num_duplicates", -1)),
            "elapsed_s": round(time.monotonic() - self._fit_start, 1) if self._fit_start else None,
            "per_class_ap50_95": ({names.get(i, str(i)): float(v) for i, v in enumerate(per_class)}
                                  if per_class is not None else {}),
        }
        path = folder / f"{ev.stage}_metrics.jsonl"
        with report_file(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def _write(self, trainer: L.Trainer, pl_module: Any) -> None:
        """Rank 0, after the final evaluation: its plots (~2 s of matplotlib, so not after every epoch; TensorBoard
        has the curves) and ``predictions.json``."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        ev, folder = pending
        if pl_module.evaluation.save_plots:
            self._plots(trainer, pl_module, ev, folder / "plots")
        if pl_module.evaluation.save_json:
            path = folder / "predictions.json"  # validate and test alike (each run has its own folder)
            with report_file(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(coco_results(ev.data, pl_module.hparams.label_to_category_id)))
                log.info("%s: %d detections of %d images written to %s", ev.stage, len(ev.data.det_scores),
                         ev.data.num_images, path)

    @staticmethod
    def _plots(trainer: L.Trainer, pl_module: Any, ev: Evaluation, folder: Path) -> None:
        """PR curves, normalised confusion matrix, P / R / F1 against confidence and the first batch with its
        confident predictions, as files in ``folder`` and as TensorBoard images."""
        names = [pl_module.net.names[i] for i in range(len(pl_module.net.names))]
        stage, paths = ev.stage, []
        path = folder / f"{stage}_pr_curve.png"
        with report_file(path):
            paths.append(plot_pr_curves(ev.curves, path, names))
        path = folder / f"{stage}_confusion_matrix_normalized.png"
        with report_file(path):
            matrix = confusion_matrix(ev.data, pl_module.hparams.num_classes, conf=CONFUSION_CONF,
                                      iou_threshold=CONFUSION_IOU)
            paths.append(plot_confusion_matrix(matrix, path, names, title=f"confusion matrix, normalised per true "
                                               f"class\n(conf {CONFUSION_CONF}, IoU {CONFUSION_IOU})"))
        conf_curves = confidence_curves(ev.curves)
        for which, tag in (("precision", "P"), ("recall", "R"), ("f1", "F1")):
            path = folder / f"{stage}_{tag}_curve.png"
            with report_file(path):
                paths.append(plot_confidence_curve(conf_curves, which, path, names))
        if ev.first_batch:
            shown = pl_module.evaluation.predict_conf  # the metric's conf 0.001 keeps hundreds of boxes: confident ones
            confident = [{**p, "boxes": p["boxes"][p["scores"] >= shown], "labels": p["labels"][p["scores"] >= shown]}
                         for p in ev.first_batch]
            path = folder / f"{stage}_batch0_pred.jpg"
            with report_file(path):
                try:
                    save_prediction_grid(confident, names, path)
                except ValueError:  # none of the batch's images could be read back: nothing to draw
                    pass
        log_images(trainer.loggers, {f"{stage}_plots/{p.stem}": p for p in paths}, pl_module.global_step)


__all__ = ["Evaluation", "EvaluationReports", "LOGGED_MAP_KEYS", "SIZE_MAP_KEYS", "eval_target", "evaluate"]
