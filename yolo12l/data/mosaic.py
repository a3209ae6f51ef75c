"""YOLO 4-image mosaic: placements around a random centre and the canvas (used by ``pipeline.TrainAugment``).

The YOLO mosaic puts four images (each already resized to long side ``s``) *touching* a random centre ``(xc, yc)`` in
``[s/2, 3s/2]`` of a ``2s x 2s`` grey canvas; the random affine (``affine.random_affine_matrix``) then
scales/translates around the canvas centre straight into the ``s x s`` output.
"""
from __future__ import annotations

import random

import cv2
import numpy as np


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
