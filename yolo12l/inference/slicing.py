"""Sliced inference for small objects on large images: every image is cut into overlapping ``S x S``-pixel slices of
the original, each slice is letterboxed to ``imgsz`` (so a 320-px slice at imgsz 640 is seen at 2x), the slices of
all images run through the network in batches, and the detections, shifted back to original pixels, are merged
across slices (and an optional full-image pass) by greedy NMM or NMS (:mod:`yolo12l.ops.merge`).

>>> dets = predict_sliced(net, [image], imgsz=640, slice_size=320, overlap=0.2)   # [(N, 6) x1 y1 x2 y2 score cls]

Slice grid (:func:`slice_grid`), per axis of length ``L``: starts ``0, step, 2·step, …`` with ``step = S -
int(overlap·S)`` while the start is inside the image; a slice reaching past the end is shifted back inside
(``start = L - S``), never padded, and repeated slices are dropped. A side shorter than ``S`` gets one slice of the
whole side. These are the slices SAHI's ``get_slice_bboxes`` makes for the same size and overlap ratio.

Workers (``workers > 1``, CPU): batches run in that many threads at once, each on one torch intra-op thread (torch's
thread count is set to 1 for the call and restored after). A whole network forward per core needs no
synchronisation inside the layers, where intra-op threads meet at every parallel region (and wait for a thread
another process has descheduled); each batch is computed as a 1-thread run computes it, so the detections equal
``workers=1`` at one thread up to float rounding (the batches are smaller). ``batch_size`` stays the number of
slices in flight (the memory they take): it is shared out among the workers, in batches of equal size whose
number is a multiple of ``workers``, so that no worker idles on a short last batch.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from yolo12l.config_checks import check_slice_args
from yolo12l.data.letterbox import letterbox, scale_boxes
from yolo12l.errors import ConfigError
from yolo12l.ops.merge import merge_detections
from yolo12l.ops.nms import postprocess

__all__ = ["SliceConfig", "slice_grid", "predict_sliced"]

RunFn = Callable[[Tensor], "Tensor | tuple[Tensor, ...] | list[Tensor]"]


@dataclass(frozen=True)
class SliceConfig:
    """Options of sliced inference (see :func:`predict_sliced`), checked on construction (:class:`ConfigError`
    naming the value)."""

    slice_size: int = 640
    overlap: float = 0.2
    merge: str = "nmm"
    match_metric: str = "ios"
    match_thres: float = 0.5
    full_image: bool = False

    def __post_init__(self) -> None:
        check_slice_args(dataclasses.asdict(self), names=_MESSAGE_NAMES)

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`predict_sliced` these options set."""
        return dataclasses.asdict(self)


_MESSAGE_NAMES = {"slice_size": "slice size", "overlap": "slice overlap", "merge": "slice merge",
                  "match_metric": "slice match metric", "match_thres": "slice match threshold",
                  "full_image": "slice full_image"}


def _starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length, step))
    starts = [min(s, length - size) for s in starts]
    return sorted(set(starts))


def slice_grid(height: int, width: int, slice_size: int, overlap: float = 0.2) -> np.ndarray:
    """(K, 4) int64 slice windows ``x1, y1, x2, y2`` of an image of ``height x width`` pixels, row-major.

    Windows are ``slice_size`` wide/high (the whole side where the image is smaller), consecutive starts
    ``slice_size - int(overlap·slice_size)`` apart, the last one shifted back inside the image.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    step = max(slice_size - int(overlap * slice_size), 1)
    xs, ys = _starts(width, slice_size, step), _starts(height, slice_size, step)
    sw, sh = min(slice_size, width), min(slice_size, height)
    return np.array([[x, y, x + sw, y + sh] for y in ys for x in xs], dtype=np.int64)


Job = tuple[int, tuple[int, int, int, int]]  # (image index, slice window x1 y1 x2 y2)


def default_workers(device: torch.device | str) -> int:
    """Workers for a torch network on ``device``: one per torch thread on the CPU, else 1."""
    return torch.get_num_threads() if torch.device(device).type == "cpu" else 1


def _batches(jobs: list[Job], batch_size: int, workers: int = 1) -> list[list[Job]]:
    """Consecutive batches of ``batch_size`` jobs (the last one shorter); with ``workers > 1``, ``batch_size`` is
    shared out: batches of at most ``ceil(batch_size / workers)``, as equal as can be, their number a multiple of
    ``workers``, so that no worker idles on a short last batch (36 slices, batch 8, 2 workers: 10 of 3-4)."""
    if workers == 1:
        return [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    size = -(-batch_size // workers)
    n = -(-len(jobs) // size)
    n = min(-(-n // workers) * workers, len(jobs))
    bounds = [round(k * len(jobs) / n) for k in range(n + 1)]
    return [jobs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@contextmanager
def _one_thread_each(workers: int) -> Iterator[ThreadPoolExecutor | None]:
    """``workers`` threads with torch's intra-op threads set to 1 meanwhile (restored after); None for 1."""
    if workers == 1:
        yield None
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slices") as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)


def predict_sliced(
    run: RunFn,
    images: Sequence[np.ndarray],
    imgsz: int = 640,
    slice_size: int = 640,
    overlap: float = 0.2,
    conf: float = 0.25,
    iou: float = 0.7,
    merge: str = "nmm",
    match_metric: str = "ios",
    match_thres: float = 0.5,
    full_image: bool = False,
    batch_size: int = 8,
    max_det: int = 300,
    progress: Callable[[int, int], None] | None = None,
    classes: Sequence[int] | None = None,
    workers: int = 1,
) -> list[Tensor]:
    """Sliced detection on RGB uint8 images ``(H, W, 3)`` -> one ``(N, 6)`` float32 CPU tensor per image:
    ``x1, y1, x2, y2, score, class`` in original-image pixels, by decreasing score.

    Args:
        run: the network, ``(B, 3, imgsz, imgsz)`` float RGB in 0..1 (on its device and dtype) -> ``(B, 4 + nc,
            A)`` xywh boxes in input pixels + class probabilities (a fused :class:`DetectionNetwork` in eval mode,
            or an ONNX Runtime wrapper); called under ``torch.inference_mode``.
        images: the original images.
        imgsz: each slice (and the full image) is letterboxed to ``imgsz x imgsz``.
        slice_size, overlap: the slice grid (:func:`slice_grid`); ``overlap`` is a fraction of the slice size.
        conf, iou: confidence threshold and class-aware NMS IoU inside each slice (:func:`postprocess`).
        merge, match_metric, match_thres: merging across slices (:func:`yolo12l.ops.merge.merge_detections`):
            ``nmm`` / ``nms``, ``ios`` / ``iou``, class-aware.
        full_image: also run every whole image once (letterboxed to ``imgsz``) and merge its detections too.
        batch_size: slices per network call (shared out among ``workers``); slices of consecutive images share
            batches.
        max_det: at most this many detections per slice and per image.
        progress: called as ``progress(slices_done, slices_total)`` after every batch.
        classes: keep only these class indices (before NMS, as :func:`postprocess` does).
        workers: batches computed at once, each in its own thread on one torch thread (see the module's
            docstring); for a CPU network (``run`` must be safe to call from several threads, as a torch module in
            inference mode is). 1: in the calling thread, on torch's threads.
    """
    cfg = SliceConfig(slice_size, overlap, merge, match_metric, match_thres, full_image)
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size!r}")
    if imgsz < 32 or imgsz % 32:
        raise ConfigError(f"imgsz must be a positive multiple of 32, got {imgsz!r}")
    jobs: list[tuple[int, tuple[int, int, int, int]]] = []
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"image {i}: expected an RGB uint8 (H, W, 3) array, got {im.dtype} {im.shape}")
        h, w = im.shape[:2]
        jobs.extend((i, tuple(int(v) for v in win)) for win in slice_grid(h, w, cfg.slice_size, cfg.overlap))
        if cfg.full_image:
            jobs.append((i, (0, 0, w, h)))
    param = next(iter(run.parameters()), None) if isinstance(run, torch.nn.Module) else None
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")

    def detect(batch: list[Job]) -> list[Tensor]:
        """The batch's slices letterboxed, through the network and postprocess -> (n, 6) per slice, in original
        pixels. Inference mode is per thread: entered here."""
        crops, ratio_pads = [], []
        for i, (x1, y1, x2, y2) in batch:
            padded, rp = letterbox(np.ascontiguousarray(images[i][y1:y2, x1:x2]), imgsz)
            crops.append(padded)
            ratio_pads.append(rp)
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(crops)).to(device).permute(0, 3, 1, 2).to(dtype).div_(255)
            dets = postprocess(run(x), conf=conf, iou=iou, max_det=max_det, classes=classes)
            out = []
            for (_, (x1, y1, x2, y2)), rp, det in zip(batch, ratio_pads, dets):
                det = det.float().cpu()
                if det.shape[0]:
                    det[:, :4] = scale_boxes(det[:, :4], rp, (y2 - y1, x2 - x1))
                    det[:, [0, 2]] += x1
                    det[:, [1, 3]] += y1
                out.append(det)
        return out

    per_image: list[list[Tensor]] = [[] for _ in images]
    batches = _batches(jobs, batch_size, workers)
    done = 0
    with _one_thread_each(workers) as pool:
        for batch, dets in zip(batches, map(detect, batches) if pool is None else pool.map(detect, batches)):
            for (i, _), det in zip(batch, dets):
                per_image[i].append(det)
            done += len(batch)
            if progress is not None:
                progress(done, len(jobs))
    out = []
    for parts in per_image:
        dets = torch.cat(parts) if parts else torch.zeros(0, 6)
        out.append(merge_detections(dets, cfg.merge, cfg.match_metric, cfg.match_thres, max_det=max_det))
    return out
