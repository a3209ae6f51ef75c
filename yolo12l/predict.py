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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw, ImageFont

from .allocator import retain_freed_memory
from .data.images import list_images, read_image
from .data.letterbox import letterbox, scale_boxes
from .data.visualize import class_colour
from .models import build_model
from .ops import postprocess

__all__ = ["coco_results", "draw_detections", "iter_predictions", "load_for_prediction", "main", "predict_image",
           "predict_images"]

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
        padded, ratio_pad = letterbox(image, self.imgsz, auto=not self.square, stride=STRIDE)
        x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))
        item = {"index": i, "path": str(path), "input": x, "ratio_pad": ratio_pad, "orig_shape": image.shape[:2],
                "prep_ms": 1e3 * (time.perf_counter() - t0)}
        if self.keep_images:
            item["image"] = image
        return item


def _as_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def iter_predictions(model: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str | os.PathLike],
                     imgsz: int = 640, conf: float = 0.25, iou: float = 0.7, max_det: int = 300, *, batch: int = 1,
                     workers: int = 0, square: bool = False, keep_images: bool = False,
                     device: str | torch.device | None = None, half: bool = False) -> Iterator[dict[str, Any]]:
    """Runs ``model`` (the network in eval mode, or any callable with its eval output, e.g.
    :class:`~yolo12l.export.ort_runtime.OnnxRuntimeModel`) on image files; yields one dict per file, in order.

    Images are decoded and letterboxed in ``workers`` DataLoader processes (0: in this one) and run ``batch`` at a
    time; images of a batch that letterbox to different shapes run as separate sub-batches, so the batch size never
    changes a detection. ``square``: letterbox to ``imgsz × imgsz`` instead of the smallest multiple of 32 (fixed-size
    backends). A readable image gives ``path``, ``file_name``, ``index``, ``orig_shape`` (h, w), ``input_shape``
    (B, 3, h, w) of its (sub-)batch, ``boxes`` (N, 4) xyxy in original pixels, ``scores`` (N,), ``classes`` (N,)
    int64, ``ms`` (per-image ``preprocess`` / ``inference`` / ``postprocess`` milliseconds; a batch's time is
    shared equally) and ``image`` (when ``keep_images``); an unreadable one gives ``index``, ``path``, ``error``.
    """
    imgsz = _check_imgsz(imgsz)
    if batch < 1 or workers < 0:
        raise ValueError(f"batch must be >= 1 and workers >= 0, got {batch}, {workers}")
    if device is None:
        param = next(model.parameters(), None) if isinstance(model, nn.Module) else None
        device = param.device if param is not None else "cpu"
    device = torch.device(device)
    dtype = torch.float16 if half else torch.float32
    loader = torch.utils.data.DataLoader(_Images(paths, imgsz, square, keep_images), batch_size=batch,
                                         num_workers=workers, collate_fn=_as_list,
                                         pin_memory=device.type == "cuda")
    with torch.inference_mode():
        for items in loader:
            groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
            for item in items:
                if "error" not in item:
                    groups.setdefault(tuple(item["input"].shape), []).append(item)
            done: dict[int, dict[str, Any]] = {}
            for group in groups.values():
                n = len(group)
                t0 = time.perf_counter()
                x = torch.stack([g["input"] for g in group]).to(device, non_blocking=True).to(dtype).div_(255)
                _sync(device)
                t1 = time.perf_counter()
                y = model(x)
                _sync(device)
                t2 = time.perf_counter()
                dets = postprocess(y, conf=conf, iou=iou, max_det=max_det)
                for g, det in zip(group, dets):
                    det = det.float().cpu()
                    # the content was resized to exactly round(w·r) × round(h·r) pixels: scale_boxes maps back
                    # with those per-axis ratios (the exact inverse of the resize, as Ultralytics does)
                    boxes = scale_boxes(det[:, :4], g["ratio_pad"], g["orig_shape"])
                    done[g["index"]] = {**g, "boxes": boxes, "scores": det[:, 4], "classes": det[:, 5].long()}
                t3 = time.perf_counter()
                for g in group:
                    d = done[g["index"]]
                    d["input_shape"] = tuple(x.shape)
                    d["ms"] = {"preprocess": g["prep_ms"] + 1e3 * (t1 - t0) / n,
                               "inference": 1e3 * (t2 - t1) / n, "postprocess": 1e3 * (t3 - t2) / n}
            for item in items:
                out = done.get(item["index"], item)
                out = {k: v for k, v in out.items() if k not in ("input", "prep_ms", "ratio_pad")}
                out["file_name"] = Path(out["path"]).name
                yield out


def predict_image(net: nn.Module, image: np.ndarray, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
                  max_det: int = 300) -> dict[str, torch.Tensor]:
    """Detections for one (H, W, 3) uint8 RGB image: ``boxes`` (N, 4) xyxy original pixels, ``scores`` (N,),
    ``classes`` (N,) int64, by decreasing score."""
    imgsz = _check_imgsz(imgsz)
    param = next(net.parameters())
    padded, ratio_pad = letterbox(image, imgsz, auto=True, stride=STRIDE)
    x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).to(param.device)
    with torch.inference_mode():
        det = postprocess(net(x[None].to(param.dtype) / 255), conf=conf, iou=iou, max_det=max_det)[0].float().cpu()
    boxes = scale_boxes(det[:, :4], ratio_pad, image.shape[:2])
    return {"boxes": boxes, "scores": det[:, 4], "classes": det[:, 5].long()}


def predict_images(net: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str | os.PathLike],
                   imgsz: int = 640, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                   **options: Any) -> list[dict[str, Any]]:
    """Runs ``net`` on each image file (see :func:`iter_predictions` for ``options``: batch, workers, square, …).

    Returns one dict per readable image: ``path``, ``file_name``, ``index`` (position in ``paths``),
    ``orig_shape`` (h, w), ``boxes`` (N, 4) xyxy in original pixels, ``scores`` (N,), ``classes`` (N,) int64, ``ms``.
    Unreadable images are skipped with a warning (counted in the log), never abort the run. An ``nn.Module`` is
    put in eval mode for the run and restored afterwards.
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
    ap.add_argument("--batch", type=int, default=1, help="images per forward pass (default 1)")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader processes decoding and letterboxing images (default: 0 — in this process — on "
                         "≤ 2 cores, else 1 with a batch of 1, else 2)")
    ap.add_argument("--out", default="runs/predict", help="output folder (predictions.json + annotated images)")
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    ap.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                    help="torch (fused network) or onnxruntime (exported once per weights and size, cached next to "
                         "the weights; letterboxes to imgsz × imgsz)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (for GPUs; compiling takes "
                                                           "a while, so it pays off on many images)")
    ap.add_argument("--half", action="store_true", help="float16 on CUDA")
    ap.add_argument("--no-images", action="store_true", help="write predictions.json only")
    ap.add_argument("--quiet", action="store_true", help="no per-image lines")
    return ap


def _summary(classes: torch.Tensor, names: dict[int, str]) -> str:
    """``2 persons, 1 car`` (counts by class index) or ``(no detections)``."""
    if not classes.numel():
        return "(no detections)"
    ids, counts = classes.unique(return_counts=True)
    return ", ".join(f"{n} {names.get(int(c), str(int(c)))}{'s' * (n > 1)}" for c, n in zip(ids.tolist(),
                                                                                       counts.tolist()))


def _save_annotated(image: np.ndarray, pred: dict[str, Any], names: dict[int, str], path: Path) -> None:
    try:
        draw_detections(image, pred, names).save(path)
    except OSError as exc:
        log.warning("could not write the annotated image %s: %s", path, exc)


def _build_model(args: argparse.Namespace, net: nn.Module, device: torch.device) -> Callable:
    if args.backend == "onnxruntime":
        from .export.ort_runtime import OnnxRuntimeModel

        return OnnxRuntimeModel(args.weights, net, (args.imgsz, args.imgsz), device=str(device))
    net = net.fuse().to(device)
    if args.half:
        net = net.half()
    if args.compile:
        net = torch.compile(net, mode="reduce-overhead" if device.type == "cuda" else None)
    return net


def main(argv: list[str] | None = None) -> int:
    """``yolo12l predict``; returns the exit status (0 ok, 1 no usable image, 2 bad arguments / weights)."""
    args = _parser().parse_args(argv)
    retain_freed_memory()  # no page faults on every image's activations (see yolo12l.allocator)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = Path(args.out)
    try:
        if args.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {args.batch}")
        if args.workers is not None and args.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {args.workers}")
        device = torch.device(args.device)
        if args.half and device.type != "cuda":
            raise ValueError("--half needs a CUDA device")
        args.imgsz = _check_imgsz(args.imgsz)
        net, info = load_for_prediction(args.weights)
        names = dict(net.names)
        model = _build_model(args, net, device)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as exc:  # incl. UnsafeCheckpointError
        print(f"yolo12l predict: error: {exc}", file=sys.stderr)
        return 2
    out_resolved = out.resolve()
    paths = [p for p in list_images(args.source) if out_resolved not in p.resolve().parents]
    if not paths:
        print(f"yolo12l predict: error: no images found at {args.source!r}", file=sys.stderr)
        return 2
    workers = args.workers
    if workers is None:
        # on two cores a worker only competes with the network for CPU (measured: 11.4 s against 9.8 s for 32
        # COCO128 images); with more cores it decodes the next images while the network runs
        workers = 0 if (os.cpu_count() or 1) <= 2 else 1 if args.batch == 1 else 2
    workers = min(workers, len(paths))
    out.mkdir(parents=True, exist_ok=True)
    save_images = not args.no_images
    preds, failed, totals, shape = [], 0, {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}, None
    # a writer thread draws and saves while the network runs, when a core is free for it; when torch's threads
    # take every core it would stall them (each parallel region waits for a descheduled thread: measured 469 ms
    # against 103 ms per image on 2 cores), so images are then saved in this thread, between forwards
    background = torch.get_num_threads() < (os.cpu_count() or 1)
    writer = ThreadPoolExecutor(max_workers=1) if save_images and background else None
    pending = []
    try:
        output_names: set[str] = set()
        for p in iter_predictions(model, paths, args.imgsz, args.conf, args.iou, args.max_det, batch=args.batch,
                                  workers=workers, square=args.backend == "onnxruntime", keep_images=save_images,
                                  device=device, half=args.half):
            k = p["index"] + 1
            if "error" in p:
                failed += 1
                log.warning("skipping unreadable image %s (%d so far): %s", p["path"], failed, p["error"])
                continue
            for key in totals:
                totals[key] += p["ms"][key]
            shape = p["input_shape"]
            if not args.quiet:
                h, w = p["input_shape"][2:]
                print(f"image {k}/{len(paths)} {p['path']}: {h}x{w} {_summary(p['classes'], names)}, "
                      f"{p['ms']['inference']:.1f}ms", flush=True)
            if save_images:
                name = p["file_name"] if p["file_name"] not in output_names else f"{p['index']}_{p['file_name']}"
                output_names.add(name)
                if writer is not None:
                    pending.append(writer.submit(_save_annotated, p.pop("image"), dict(p), names, out / name))
                else:
                    _save_annotated(p.pop("image"), p, names, out / name)
            preds.append(p)
    finally:
        if writer is not None:
            writer.shutdown(wait=True)
    for f in pending:
        f.result()  # re-raises what drawing raised (writing errors are already warnings)
    if failed:
        log.warning("%d of %d images could not be read", failed, len(paths))
    results = coco_results(preds, info.get("category_ids"))
    (out / "predictions.json").write_text(json.dumps(results, indent=1) + "\n")
    if preds:
        n = len(preds)
        print(f"Speed: {totals['preprocess'] / n:.1f}ms preprocess, {totals['inference'] / n:.1f}ms inference, "
              f"{totals['postprocess'] / n:.1f}ms postprocess per image at shape {shape}")
    print(f"{len(preds)} images, {len(results)} detections -> {out / 'predictions.json'}"
          + (f" ({failed} unreadable images skipped)" if failed else ""))
    return 0 if preds else 1


if __name__ == "__main__":
    sys.exit(main())
