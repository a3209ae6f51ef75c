"""Writes ``trainer.predict`` results with the steps of ``yolo12l predict --weights`` (:mod:`yolo12l.inference`):
``predictions.json`` and annotated images, byte for byte the same on the same images and weights."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from ..data.images import read_image
from ..data.visualize import draw_boxes
from ..inference import next_run_dir, save_annotated, write_predictions

log = logging.getLogger(__name__)


def _as_predict_records(preds: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """predict_step outputs → the records :func:`yolo12l.inference.write_predictions` takes."""
    return [{"boxes": p["boxes"].detach().cpu(), "scores": p["scores"].detach().cpu(),
             "classes": p["labels"].detach().cpu(), "index": p["meta"].get("index", i),
             "file_name": p["meta"].get("file_name") or Path(p["meta"]["file"]).name} for i, p in enumerate(preds)]


class DetectionWriter(BasePredictionWriter):
    """At the end of ``predict``: ``<output_dir>/predictions.json`` and, if ``save_images``, one annotated image per
    input under ``<output_dir>/images/`` (named as in the JSON). Category ids are the model's
    ``label_to_category_id`` when set. ``output_dir`` defaults to ``<trainer.default_root_dir>/predict``, then
    ``predict2``, ``predict3`` … (a new folder per run, as ``predict --weights`` numbers ``runs/predict``; an earlier
    run's predictions are never overwritten); a given ``output_dir`` is used as it is."""

    def __init__(self, output_dir: str | None = None, save_images: bool = True, max_images: int | None = None):
        super().__init__(write_interval="epoch")
        self._output_dir = Path(output_dir) if output_dir else None
        self.output_dir = self._output_dir or Path("predict")
        self.save_images = save_images
        self.max_images = max_images

    def write_on_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Sequence[Any],
                           batch_indices: Sequence[Any]) -> None:
        preds = [p for batch in predictions for p in batch]
        gathered = _gather_objects(trainer, preds)
        if not trainer.is_global_zero:
            return
        by_index = {p["meta"].get("index", i): p for i, p in enumerate(p for part in gathered for p in part)}
        preds = [by_index[i] for i in sorted(by_index)]  # input order; DDP padding copies dropped
        if self._output_dir is None:
            self.output_dir = next_run_dir(Path(trainer.default_root_dir) / "predict")
        else:
            self.output_dir = self._output_dir
            self.output_dir.mkdir(parents=True, exist_ok=True)
        records = _as_predict_records(preds)
        path, n = write_predictions(records, self.output_dir, getattr(pl_module.hparams, "label_to_category_id",
                                                                      None))
        log.info("predict: %d detections of %d images written to %s", n, len(records), path)
        if self.save_images:
            names = dict(pl_module.net.names)
            for p, record in list(zip(preds, records))[: self.max_images]:
                try:
                    img = read_image(p["meta"]["file"])
                except OSError:
                    continue
                save_annotated(img, record, names, self.output_dir / "images" / record["file_name"])


def _gather_objects(trainer: L.Trainer, obj: Any) -> list[Any]:
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return [obj]
    out: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def save_prediction_grid(preds: Sequence[dict[str, Any]], names: Sequence[str],
                         path: str | Path, max_images: int = 16) -> Path:
    """A grid of the original images of ``preds`` (with ``meta``) with predicted boxes (original pixels) drawn, as a
    JPEG/PNG."""
    tiles = []
    for p in preds[:max_images]:
        meta = p["meta"] if "meta" in p else {}
        try:
            img = read_image(meta["file"])
        except (OSError, KeyError):
            continue
        tiles.append(draw_boxes(img, p["boxes"].cpu().numpy(), p["labels"].tolist(), names))
    if not tiles:
        raise ValueError("no image to draw")
    size = 320
    resized = [cv2.resize(t, (size, size)) for t in tiles]
    cols = int(np.ceil(np.sqrt(len(resized))))
    rows = int(np.ceil(len(resized) / cols))
    grid = np.full((rows * size, cols * size, 3), 255, np.uint8)
    for i, t in enumerate(resized):
        r, c = divmod(i, cols)
        grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = t
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path
