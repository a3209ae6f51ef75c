"""Stand-alone prediction: ``yolo12l predict --weights W --source S`` → annotated images + ``predictions.json``.

Pre-processing is Ultralytics' ``predict``: the image is decoded to RGB (EXIF orientation applied), letterboxed in
"auto" mode (keep the aspect ratio, ``r = min(imgsz / h, imgsz / w)``, resize to ``round(w·r) × round(h·r)`` with
``cv2.INTER_LINEAR``, pad with grey 114 to the next multiple of 32, padding split in half) by
:func:`yolo12l.data.letterbox.letterbox`, and scaled to 0..1. Each image is run on its own (batch 1, its own
shape). Post-processing is :func:`yolo12l.ops.postprocess` (class-aware NMS, one class per box) and the boxes are
mapped back to original pixels with :func:`yolo12l.data.letterbox.scale_boxes`, using the per-axis ratios of
the resize (``round(w·r) / w``, ``round(h·r) / h``), as Ultralytics 8.4 does.

``predictions.json`` is in the COCO results format, one entry per box: ``image_id``, ``file_name``,
``category_id``, ``bbox`` = [x, y, w, h] in original pixels, ``score``. ``image_id`` is the file stem as an integer
when every stem is a distinct integer (COCO file names such as ``000000000139.jpg``), otherwise the image's index in
the sorted source list (so ids never collide). ``category_id`` is the class index, mapped through the checkpoint's
``label_to_category_id`` hyper-parameter when it has one (yolo12l checkpoints trained on COCO JSON: the original
category ids); Ultralytics checkpoints carry no such mapping, so their class index is written.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw, ImageFont

from .data.images import list_images, read_image
from .data.letterbox import letterbox, scale_boxes
from .data.visualize import class_colour
from .models import build_model
from .ops import postprocess

__all__ = ["coco_results", "draw_detections", "load_for_prediction", "main", "predict_images"]

log = logging.getLogger(__name__)
STRIDE = 32


# ------------------------------------------------------------------------------------------------------ weights
def _load_lightning(path: Path, ckpt: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    hp = dict(ckpt.get("hyper_parameters") or {})
    missing = [k for k in ("model", "num_classes") if k not in hp]
    if missing:
        raise ValueError(f"{path}: Lightning checkpoint without hyper-parameters {missing}")
    net = build_model(hp["model"], scale=hp.get("scale"), nc=int(hp["num_classes"]))
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    if not state:
        raise ValueError(f"{path}: the checkpoint's state_dict has no 'net.' network weights")
    net.load_state_dict(state, strict=True)
    names = hp.get("class_names") or [str(i) for i in range(net.nc)]
    net.names = {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else dict(enumerate(names))
    cats = hp.get("label_to_category_id")
    if cats is not None and len(cats) != net.nc:
        raise ValueError(f"{path}: label_to_category_id has {len(cats)} entries for {net.nc} classes")
    return net, {"format": "lightning", "category_ids": list(cats) if cats is not None else None}


def load_for_prediction(weights: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """A network in eval mode from a yolo12l Lightning ``.ckpt`` or an Ultralytics / YOLOv12 ``.pt``.

    Returns ``(net, info)``; ``info["category_ids"]`` is the checkpoint's ``label_to_category_id`` or None.
    """
    from .interop import load_ultralytics_checkpoint

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a whole pickled model (Ultralytics): read with the restricted unpickler below
        ckpt = None
    if isinstance(ckpt, dict) and "hyper_parameters" in ckpt and isinstance(ckpt.get("state_dict"), dict):
        net, info = _load_lightning(path, ckpt)
    else:
        net, info = load_ultralytics_checkpoint(path)
        info = {**info, "format": "ultralytics", "category_ids": None}
    return net.eval(), info


# --------------------------------------------------------------------------------------------------- prediction
def _check_imgsz(imgsz: int) -> int:
    if imgsz <= 0:
        raise ValueError(f"imgsz must be positive, got {imgsz}")
    if imgsz % STRIDE:
        fixed = math.ceil(imgsz / STRIDE) * STRIDE
        log.warning("imgsz %d is not a multiple of %d; using %d", imgsz, STRIDE, fixed)
        return fixed
    return imgsz


@torch.no_grad()
def predict_image(net: nn.Module, image: np.ndarray, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
                  max_det: int = 300) -> dict[str, torch.Tensor]:
    """Detections for one (H, W, 3) uint8 RGB image: ``boxes`` (N, 4) xyxy original pixels, ``scores`` (N,),
    ``classes`` (N,) int64, by decreasing score."""
    imgsz = _check_imgsz(imgsz)
    param = next(net.parameters())
    padded, (ratio, pad) = letterbox(image, imgsz, auto=True, stride=STRIDE)
    x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).to(param.device)
    x = x[None].to(param.dtype) / 255
    det = postprocess(net(x), conf=conf, iou=iou, max_det=max_det)[0].float().cpu()
    # The content was resized to exactly round(w·r) × round(h·r) pixels: map back with those per-axis ratios (the
    # exact inverse of the resize, as Ultralytics does), not with r itself.
    h0, w0 = image.shape[:2]
    boxes = scale_boxes(det[:, :4], (ratio, pad), (h0, w0))
    return {"boxes": boxes, "scores": det[:, 4], "classes": det[:, 5].long()}


def predict_images(net: nn.Module, paths: Sequence[str | os.PathLike], imgsz: int = 640, conf: float = 0.25,
                   iou: float = 0.7, max_det: int = 300) -> list[dict[str, Any]]:
    """Runs ``net`` (eval mode) on each image file.

    Returns one dict per readable image: ``path``, ``file_name``, ``index`` (position in ``paths``),
    ``orig_shape`` (h, w), ``boxes`` (N, 4) xyxy in original pixels, ``scores`` (N,), ``classes`` (N,) int64.
    Unreadable images are skipped with a warning (counted in the log), never abort the run.
    """
    was_training = net.training
    net.eval()
    out, failed = [], 0
    try:
        for i, p in enumerate(paths):
            try:
                image = read_image(p)
            except OSError as exc:
                failed += 1
                log.warning("skipping unreadable image %s (%d so far): %s", p, failed, exc)
                continue
            det = predict_image(net, image, imgsz, conf, iou, max_det)
            out.append({"path": str(p), "file_name": Path(p).name, "index": i, "orig_shape": image.shape[:2], **det})
    finally:
        net.train(was_training)
    if failed:
        log.warning("%d of %d images could not be read", failed, len(paths))
    return out


# ------------------------------------------------------------------------------------------------------ outputs
def _image_ids(preds: Sequence[dict[str, Any]]) -> list[int]:
    stems = [Path(p["file_name"]).stem for p in preds]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return [int(p["index"]) for p in preds]


def coco_results(preds: Sequence[dict[str, Any]], category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """:func:`predict_images` output → COCO results entries (see the module docstring for ids)."""
    results = []
    for image_id, p in zip(_image_ids(preds), preds):
        for (x1, y1, x2, y2), s, k in zip(p["boxes"].tolist(), p["scores"].tolist(), p["classes"].tolist()):
            results.append({
                "image_id": image_id,
                "file_name": p["file_name"],
                "category_id": int(category_ids[k]) if category_ids is not None else int(k),
                "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                "score": round(s, 5),
            })
    return results


def draw_detections(image: np.ndarray, pred: dict[str, Any], names: dict[int, str]) -> Image.Image:
    """The image (H, W, 3) uint8 RGB with boxes and ``name score`` labels drawn (PIL)."""
    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    width = max(1, round(min(im.size) / 320))
    for (x1, y1, x2, y2), s, k in zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["classes"].tolist()):
        colour = class_colour(k)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        text = f"{names.get(k, str(k))} {s:.2f}"
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        ty = y1 - (b - t) - 3 if y1 - (b - t) - 3 >= 0 else y1
        draw.rectangle((x1, ty, x1 + (r - l) + 4, ty + (b - t) + 3), fill=colour)
        draw.text((x1 + 2, ty + 1 - t), text, fill=(0, 0, 0), font=font)
    return im


def _output_names(preds: Sequence[dict[str, Any]]) -> list[str]:
    names, seen = [], set()
    for p in preds:
        name = p["file_name"]
        if name in seen:
            name = f"{p['index']}_{name}"
        seen.add(name)
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="yolo12l predict", description="Detect objects in images with a yolo12l "
                                 "checkpoint (.ckpt) or an Ultralytics / YOLOv12 .pt file.")
    ap.add_argument("--weights", required=True, help="yolo12l Lightning .ckpt or Ultralytics / YOLOv12 .pt")
    ap.add_argument("--source", required=True, help="an image, a folder (searched recursively) or a glob pattern")
    ap.add_argument("--imgsz", type=int, default=640, help="inference size (longest side), multiple of 32")
    ap.add_argument("--conf", type=float, default=0.25, help="confidence threshold")
    ap.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold")
    ap.add_argument("--max-det", type=int, default=300, help="maximum detections per image")
    ap.add_argument("--out", default="runs/predict", help="output folder (predictions.json + annotated images)")
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    ap.add_argument("--no-images", action="store_true", help="write predictions.json only")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``yolo12l predict``; returns the exit status (0 ok, 1 no usable image, 2 bad arguments / weights)."""
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = Path(args.out)
    try:
        net, info = load_for_prediction(args.weights)
        net.to(torch.device(args.device))
        _check_imgsz(args.imgsz)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as exc:  # incl. UnsafeCheckpointError
        print(f"yolo12l predict: {exc}", file=sys.stderr)
        return 2
    out_resolved = out.resolve()
    paths = [p for p in list_images(args.source) if out_resolved not in p.resolve().parents]
    if not paths:
        print(f"yolo12l predict: no images found at {args.source!r}", file=sys.stderr)
        return 1
    preds = predict_images(net, paths, args.imgsz, args.conf, args.iou, args.max_det)
    out.mkdir(parents=True, exist_ok=True)
    results = coco_results(preds, info.get("category_ids"))
    (out / "predictions.json").write_text(json.dumps(results, indent=1) + "\n")
    if not args.no_images:
        for pred, name in zip(preds, _output_names(preds)):
            try:
                draw_detections(read_image(pred["path"]), pred, net.names).save(out / name)
            except OSError as exc:
                log.warning("could not write the annotated image %s: %s", out / name, exc)
    skipped = len(paths) - len(preds)
    print(f"{len(preds)} images, {len(results)} detections -> {out / 'predictions.json'}"
          + (f" ({skipped} unreadable images skipped)" if skipped else ""))
    return 0 if preds else 1


if __name__ == "__main__":
    sys.exit(main())
