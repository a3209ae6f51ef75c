"""Running a network on images: letterbox → batches of network inputs → detections in original pixels.

Pre-processing is Ultralytics' ``predict``: the image is decoded to RGB (EXIF orientation applied), letterboxed in
"auto" mode (keep the aspect ratio, ``r = min(imgsz / h, imgsz / w)``, resize to ``round(w·r) × round(h·r)`` with
``cv2.INTER_LINEAR``, pad with grey 114 to the next multiple of 32, padding split in half) by
:func:`yolo12l.data.letterbox.letterbox`, and scaled to 0..1. Post-processing is :func:`yolo12l.ops.postprocess`
(class-aware NMS, one class per box) and the boxes are mapped back to original pixels with
:func:`yolo12l.data.letterbox.scale_boxes` (per-axis ratios of the resize, as Ultralytics 8.4 does).

The steps are separate functions so that other front ends reuse them: :func:`prepare` (one image → one input),
:func:`run_inputs` (a list of inputs of any shapes → detections, batched by shape) and :func:`to_original`
(network output → detections in original pixels). ``yolo12l predict`` in both forms and evaluation use them.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..data.images import read_image, unique_names
from ..data.letterbox import RatioPad, letterbox, scale_boxes
from ..errors import ConfigError
from ..ops import postprocess

__all__ = ["STRIDE", "check_imgsz", "iter_predictions", "predict_image", "predict_images", "prepare", "run_inputs",
           "to_original"]

log = logging.getLogger(__name__)
STRIDE = 32


def check_imgsz(imgsz: int) -> int:
    """``imgsz`` rounded up to a multiple of 32 (with a warning); ConfigError when not positive."""
    if imgsz <= 0:
        raise ConfigError(f"imgsz must be positive, got {imgsz}")
    if imgsz % STRIDE:
        fixed = math.ceil(imgsz / STRIDE) * STRIDE
        log.warning("imgsz %d is not a multiple of %d; using %d", imgsz, STRIDE, fixed)
        return fixed
    return imgsz


def prepare(image: np.ndarray, imgsz: int, square: bool = False) -> tuple[torch.Tensor, RatioPad]:
    """(H, W, 3) uint8 RGB → ((3, h, w) uint8 letterboxed input, its ratio and padding). ``square``: pad to
    ``imgsz × imgsz`` (fixed-size backends) instead of the next multiple of 32."""
    padded, ratio_pad = letterbox(image, imgsz, auto=not square, stride=STRIDE)
    return torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))), ratio_pad


def to_original(y: torch.Tensor, ratio_pads: Sequence[RatioPad | tuple], orig_shapes: Sequence[tuple[int, int]],
                conf: float = 0.25, iou: float = 0.7, max_det: int = 300, classes: Sequence[int] | None = None
                ) -> list[dict[str, torch.Tensor]]:
    """Network eval output (B, 4 + nc, A) → per image ``boxes`` (N, 4) xyxy in original pixels, ``scores`` (N,),
    ``classes`` (N,) int64, by decreasing score (on the output's device)."""
    out = []
    for det, rp, shape in zip(postprocess(y, conf=conf, iou=iou, max_det=max_det, classes=classes), ratio_pads,
                              orig_shapes):
        out.append({"boxes": scale_boxes(det[:, :4].float(), rp, shape), "scores": det[:, 4].float(),
                    "classes": det[:, 5].long()})
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_inputs(model: Callable[[torch.Tensor], torch.Tensor], inputs: Sequence[torch.Tensor],
               ratio_pads: Sequence[RatioPad | tuple], orig_shapes: Sequence[tuple[int, int]], *,
               conf: float = 0.25, iou: float = 0.7, max_det: int = 300, classes: Sequence[int] | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> list[dict[str, Any]]:
    """Runs letterboxed uint8 inputs (3, h, w) through ``model``: inputs of one shape form one batch, so the batch
    never changes a detection. Returns per input (in order) :func:`to_original`'s dict on the CPU plus
    ``input_shape`` (B, 3, h, w) of its batch and ``ms`` (``inference`` / ``postprocess`` / ``transfer``
    milliseconds, a batch's time shared equally)."""
    device = torch.device(device)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(inputs):
        groups.setdefault(tuple(x.shape), []).append(i)
    out: list[dict[str, Any]] = [{} for _ in inputs]
    with torch.inference_mode():
        for idx in groups.values():
            n = len(idx)
            t0 = time.perf_counter()
            x = torch.stack([inputs[i] for i in idx]).to(device, non_blocking=True).to(dtype).div_(255)
            _sync(device)
            t1 = time.perf_counter()
            y = model(x)
            _sync(device)
            t2 = time.perf_counter()
            dets = to_original(y, [ratio_pads[i] for i in idx], [orig_shapes[i] for i in idx], conf, iou, max_det,
                               classes)
            dets = [{k: v.cpu() for k, v in d.items()} for d in dets]
            t3 = time.perf_counter()
            for i, d in zip(idx, dets):
                out[i] = {**d, "input_shape": tuple(x.shape), "ms": {
                    "transfer": 1e3 * (t1 - t0) / n, "inference": 1e3 * (t2 - t1) / n,
                    "postprocess": 1e3 * (t3 - t2) / n}}
    return out


class _Images(torch.utils.data.Dataset):
    """Decodes and letterboxes image files (in DataLoader workers when there are any).

    Item: ``index``, ``path``, ``input`` (3, h, w) uint8 letterboxed, ``ratio_pad``, ``orig_shape``, ``prep_ms``
    (letterbox + tensor time; decoding is not counted, as in Ultralytics), ``image`` (the decoded original, when
    ``keep_images``), or ``index``, ``path``, ``error`` for an unreadable file.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], imgsz: int, square: bool, keep_images: bool):
        self.paths, self.imgsz, self.square, self.keep_images = list(paths), imgsz, square, keep_images

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        path = self.paths[i]
        try:
            image = read_image(path)
        except OSError as exc:
            return {"index": i, "path": str(path), "error": str(exc)}
        t0 = time.perf_counter()
        x, ratio_pad = prepare(image, self.imgsz, self.square)
        item = {"index": i, "path": str(path), "input": x, "ratio_pad": ratio_pad, "orig_shape": image.shape[:2],
                "prep_ms": 1e3 * (time.perf_counter() - t0)}
        if self.keep_images:
            item["image"] = image
        return item


def _as_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


def iter_predictions(model: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str | os.PathLike],
                     imgsz: int = 640, conf: float = 0.25, iou: float = 0.7, max_det: int = 300, *, batch: int = 1,
                     workers: int = 0, square: bool = False, keep_images: bool = False,
                     classes: Sequence[int] | None = None, device: str | torch.device | None = None,
                     half: bool = False) -> Iterator[dict[str, Any]]:
    """Runs ``model`` (the network in eval mode, or any callable with its eval output, e.g.
    :class:`~yolo12l.export.ort_runtime.OnnxRuntimeModel`) on image files; yields one dict per file, in order.

    Images are decoded and letterboxed in ``workers`` DataLoader processes (0: in this one) and run ``batch`` at a
    time through :func:`run_inputs`. A readable image gives ``path``, ``file_name`` (see
    :func:`~yolo12l.data.images.unique_names`), ``index``, ``orig_shape`` (h, w),
    ``input_shape``, ``boxes`` (N, 4) xyxy in original pixels, ``scores`` (N,), ``classes`` (N,) int64, ``ms``
    (per-image ``preprocess`` / ``inference`` / ``postprocess`` milliseconds) and ``image`` (when ``keep_images``);
    an unreadable one gives ``index``, ``path``, ``error``.
    """
    imgsz = check_imgsz(imgsz)
    if batch < 1 or workers < 0:
        raise ConfigError(f"batch must be >= 1 and workers >= 0, got {batch}, {workers}")
    if device is None:
        param = next(model.parameters(), None) if isinstance(model, nn.Module) else None
        device = param.device if param is not None else "cpu"
    device = torch.device(device)
    loader = torch.utils.data.DataLoader(_Images(paths, imgsz, square, keep_images), batch_size=batch,
                                         num_workers=workers, collate_fn=_as_list,
                                         pin_memory=device.type == "cuda")
    names = unique_names(paths)
    for items in loader:
        good = [it for it in items if "error" not in it]
        dets = run_inputs(model, [g["input"] for g in good], [g["ratio_pad"] for g in good],
                          [g["orig_shape"] for g in good], conf=conf, iou=iou, max_det=max_det, classes=classes,
                          device=device, dtype=torch.float16 if half else torch.float32)
        done = {g["index"]: {**g, **d} for g, d in zip(good, dets)}
        for item in items:
            out = done.get(item["index"], item)
            if "ms" in out:
                ms = out["ms"]
                out["ms"] = {"preprocess": out["prep_ms"] + ms["transfer"], "inference": ms["inference"],
                             "postprocess": ms["postprocess"]}
            out = {k: v for k, v in out.items() if k not in ("input", "prep_ms", "ratio_pad")}
            out["file_name"] = names[item["index"]]
            yield out


def predict_image(net: nn.Module, image: np.ndarray, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
                  max_det: int = 300) -> dict[str, torch.Tensor]:
    """Detections for one (H, W, 3) uint8 RGB image: ``boxes`` (N, 4) xyxy original pixels, ``scores`` (N,),
    ``classes`` (N,) int64, by decreasing score."""
    param = next(net.parameters())
    x, ratio_pad = prepare(image, check_imgsz(imgsz))
    d = run_inputs(net, [x], [ratio_pad], [image.shape[:2]], conf=conf, iou=iou, max_det=max_det,
                   device=param.device, dtype=param.dtype)[0]
    return {k: d[k] for k in ("boxes", "scores", "classes")}


def predict_images(net: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str | os.PathLike],
                   imgsz: int = 640, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                   **options: Any) -> list[dict[str, Any]]:
    """Runs ``net`` on each image file (see :func:`iter_predictions` for ``options``: batch, workers, square, …).

    Returns one dict per readable image (see :func:`iter_predictions`). Unreadable images are skipped with a
    warning (counted in the log), never abort the run. An ``nn.Module`` is put in eval mode for the run and
    restored afterwards.
    """
    was_training = isinstance(net, nn.Module) and net.training
    if isinstance(net, nn.Module):
        net.eval()
    out, failed = [], 0
    try:
        for p in iter_predictions(net, paths, imgsz, conf, iou, max_det, **options):
            if "error" in p:
                failed += 1
                log.warning("skipping unreadable image %s (%d so far): %s", p["path"], failed, p["error"])
                continue
            out.append(p)
    finally:
        if was_training:
            net.train()
    if failed:
        log.warning("%d of %d images could not be read", failed, len(paths))
    return out
