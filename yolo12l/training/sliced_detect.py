"""Sliced detection of a batch for the LightningModule (``--model.slicing``): the batch's original images (the
DataModule's ``meta["original"]``) through :func:`~yolo12l.inference.slicing.predict_sliced`."""
from __future__ import annotations

import logging
from typing import Any

import torch

from ..errors import ConfigError
from ..inference.slicing import SliceConfig, default_workers, predict_sliced

log = logging.getLogger("yolo12l.training.module")  # the warning keeps the name it always had


def prepare_sliced(slicing: SliceConfig, datamodule: Any, conf: float) -> None:
    """Before a sliced evaluation or prediction: asks the DataModule for the original images (``meta["original"]``)
    and warns when greedy merging (``nmm``) meets a low evaluation confidence, which lowers mAP."""
    if datamodule is not None and hasattr(datamodule, "keep_originals"):
        datamodule.keep_originals = True
    if slicing.merge == "nmm" and conf < 0.1:
        log.warning("sliced evaluation with merge 'nmm' at conf %g: greedy merging grows confident boxes into the "
                    "union of the low-score boxes they match, which lowers mAP (docs/small_objects.md); "
                    "--merge nms (or a higher --model.evaluation.conf_thres) measures the detector", conf)


def detect_sliced(net: torch.nn.Module, batch: dict[str, Any], slicing: SliceConfig, imgsz: int, conf: float,
                  iou: float, max_det: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Per image of ``batch``: boxes (N, 4) xyxy original pixels, scores (N,), labels (N,) on ``device``; the
    slices (letterboxed to ``imgsz``) of the batch's images run in batches of the batch's size, on the CPU in one
    worker per torch thread (as ``predict --weights --slice``)."""
    metas = batch["meta"]
    if any("original" not in m for m in metas):
        raise ConfigError("sliced detection needs the original images in the batch meta ('original'): use a "
                          "yolo12l DataModule (the module sets its keep_originals) or set keep_originals")
    images = [m["original"].cpu().numpy() if torch.is_tensor(m["original"]) else m["original"] for m in metas]
    dets = predict_sliced(net, images, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                          batch_size=max(len(images), 1), workers=default_workers(device),
                          **slicing.options())
    return [{"boxes": d[:, :4].to(device), "scores": d[:, 4].to(device), "labels": d[:, 5].long().to(device)}
            for d in dets]


__all__ = ["detect_sliced", "prepare_sliced"]
