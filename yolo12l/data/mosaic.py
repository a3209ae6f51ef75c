"""YOLO 4-image mosaic as an albumentations ``DualTransform``.

Why not ``A.Mosaic`` (albumentations 2.0.8)? It places each image in a fixed grid cell: with
``fit_mode="contain"`` an image smaller than its cell is centred in it (grey gaps between the images and the
mosaic centre), with ``"cover"`` it is cropped to fill the cell, and its output is only ``target_size``, so a
following zoom-out shows padding instead of the rest of the mosaic. The YOLO mosaic instead puts four images
(each already resized to long side ``s``) *touching* a random centre ``(xc, yc)`` in ``[s/2, 3s/2]`` of a
``2s x 2s`` grey canvas; the random affine (``affine.YoloAffine``) then scales/translates around the canvas
centre straight into the ``s x s`` output (see ``transforms.build_train_geometry``).

Usage inside ``A.Compose(..., bbox_params=...)``: pass the 3 other images as
``mosaic_metadata=[{"image": ..., "bboxes": (n, 4) pascal_voc, "labels": (n,)}, ...]`` (same label fields as
the Compose). Fewer than 3 are padded with copies of the primary image.
"""
from __future__ import annotations

import random
from typing import Any

import cv2
import numpy as np
from albumentations.augmentations.mixing import functional as fmixing
from albumentations.core.transforms_interface import DualTransform
from albumentations.core.type_definitions import Targets


def mosaic_placements(size: int, center: tuple[int, int], shapes: list[tuple[int, int]]) -> list[tuple]:
    """Where each of 4 images (h, w) goes on the ``2*size`` canvas around ``center`` = (xc, yc).

    Order: top-left, top-right, bottom-left, bottom-right; each image touches the centre with its opposite
    corner. Returns per image ``(canvas x1, y1, x2, y2, source x1, y1, x2, y2)``: the visible parts.
    """
    xc, yc = center
    big = 2 * size
    out = []
    for k, (h, w) in enumerate(shapes):
        if k == 0:
            x1, y1, x2, y2 = max(xc - w, 0), max(yc - h, 0), xc, yc
            sx1, sy1 = w - (x2 - x1), h - (y2 - y1)
        elif k == 1:
            x1, y1, x2, y2 = xc, max(yc - h, 0), min(xc + w, big), yc
            sx1, sy1 = 0, h - (y2 - y1)
        elif k == 2:
            x1, y1, x2, y2 = max(xc - w, 0), yc, xc, min(yc + h, big)
            sx1, sy1 = w - (x2 - x1), 0
        else:
            x1, y1, x2, y2 = xc, yc, min(xc + w, big), min(yc + h, big)
            sx1, sy1 = 0, 0
        out.append((x1, y1, x2, y2, sx1, sy1, sx1 + (x2 - x1), sy1 + (y2 - y1)))
    return out


def random_center(r: random.Random, size: int) -> tuple[int, int]:
    """Mosaic centre (xc, yc), each ``int(uniform(size/2, 3*size/2))`` (x drawn first)."""
    return int(r.uniform(size / 2, 3 * size / 2)), int(r.uniform(size / 2, 3 * size / 2))


def _clip(rect: tuple[int, int, int, int], region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return max(rect[0], region[0]), max(rect[1], region[1]), min(rect[2], region[2]), min(rect[3], region[3])


def mosaic_canvas(images: list[np.ndarray], center: tuple[int, int], size: int, fill: int,
                  out: np.ndarray | None = None, region: tuple[int, int, int, int] | None = None,
                  rgbx: bool = False) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The 4 images (each (h, w, C), long side ``size``) placed around ``center`` on a ``(2*size, 2*size, C)``
    canvas of ``fill``. Returns the canvas and per image the (dx, dy) that moves its pixels onto the canvas.

    out: a canvas array to reuse; saves allocating and page-faulting 4.9 MB at 640 px.
    region: (x1, y1, x2, y2): only this part of the canvas is written (the rest of ``out`` keeps old values), for a
        warp that reads nothing else (:func:`~.affine.warp_source_region`).
    rgbx: uint8 RGB images onto a 4-channel canvas (the 4th channel is 255 or ``fill``: unused), which
        ``cv2.warpAffine`` warps ~3x faster than 3 channels, with the same values in the first 3."""
    img0 = images[0]
    big = 2 * size
    xc, yc = center
    shape = (big, big, 4) if rgbx else (big, big, *img0.shape[2:])
    canvas = out if out is not None and out.shape == shape and out.dtype == img0.dtype else np.empty(shape, img0.dtype)
    region = (0, 0, big, big) if region is None else region
    shifts = []
    places = mosaic_placements(size, center, [i.shape[:2] for i in images])
    quadrants = [(0, 0, xc, yc), (xc, 0, big, yc), (0, yc, xc, big), (xc, yc, big, big)]
    for im, (x1, y1, x2, y2, sx1, sy1, sx2, sy2), (qx1, qy1, qx2, qy2) in zip(images, places, quadrants):
        shifts.append((x1 - sx1, y1 - sy1))
        cx1, cy1, cx2, cy2 = _clip((x1, y1, x2, y2), region)
        if cx2 > cx1 and cy2 > cy1:
            src = im[cy1 - y1 + sy1:cy2 - y1 + sy1, cx1 - x1 + sx1:cx2 - x1 + sx1]
            dst = canvas[cy1:cy2, cx1:cx2]
            if rgbx:
                if cv2.cvtColor(src, cv2.COLOR_RGB2RGBA, dst=dst).ctypes.data != dst.ctypes.data:
                    raise RuntimeError("cv2.cvtColor did not write into the canvas")  # never seen; be loud
            else:
                dst[...] = src
        # grey for the rest of this image's quadrant (the image touches the centre corner of its quadrant)
        for gx1, gy1, gx2, gy2 in ((qx1, qy1, qx2, y1), (qx1, y2, qx2, qy2), (qx1, y1, x1, y2), (x2, y1, qx2, y2)):
            gx1, gy1, gx2, gy2 = _clip((gx1, gy1, gx2, gy2), region)
            if gx2 > gx1 and gy2 > gy1:
                canvas[gy1:gy2, gx1:gx2] = fill
    return canvas, shifts


class YoloMosaic(DualTransform):
    """4-image mosaic on a (2*size, 2*size) canvas filled with ``fill``; boxes follow their image.

    Targets: image, bboxes. The output is larger than the input; follow it with an affine + centre crop.
    """

    _targets = (Targets.IMAGE, Targets.BBOXES)

    def __init__(self, size: int = 640, fill: int = 114, metadata_key: str = "mosaic_metadata", p: float = 1.0):
        super().__init__(p=p)
        self.size = size
        self.fill = fill
        self.metadata_key = metadata_key

    @property
    def targets_as_params(self) -> list[str]:
        return [self.metadata_key]

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("size", "fill", "metadata_key")

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        s = self.size
        extra = [m for m in (data.get(self.metadata_key) or []) if isinstance(m, dict) and "image" in m][:3]
        bbox_proc = self.get_processor("bboxes")
        if "bboxes" in data and bbox_proc is not None:
            extra = fmixing.preprocess_selected_mosaic_items(extra, bbox_proc, None)  # -> normalised + labels
        primary = {"image": data["image"], "bboxes": data.get("bboxes")}
        items = [primary, *extra] + [primary] * (3 - len(extra))
        center = random_center(self.py_random, s)
        canvas, shifts = mosaic_canvas([it["image"] for it in items], center, s, self.fill)
        boxes = []
        for it, (dx, dy) in zip(items, shifts):
            b = it.get("bboxes")
            if b is None or len(b) == 0:
                continue
            b = np.array(b, dtype=np.float64, copy=True)
            h, w = it["image"].shape[:2]
            # normalised to this image -> pixels -> shifted onto the canvas -> normalised to the canvas
            b[:, [0, 2]] = (b[:, [0, 2]] * w + dx) / (2 * s)
            b[:, [1, 3]] = (b[:, [1, 3]] * h + dy) / (2 * s)
            boxes.append(b)
        ncol = data["bboxes"].shape[1] if "bboxes" in data and data["bboxes"] is not None else 4
        mosaic_boxes = np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, ncol), np.float32)
        return {"mosaic_image": canvas, "mosaic_bboxes": mosaic_boxes, "mosaic_center": center}

    def apply(self, img: np.ndarray, mosaic_image: np.ndarray, **params: Any) -> np.ndarray:
        return mosaic_image

    def apply_to_bboxes(self, bboxes: np.ndarray, mosaic_bboxes: np.ndarray, **params: Any) -> np.ndarray:
        return mosaic_bboxes  # clipped to the canvas and filtered by Compose's bbox processor afterwards
