"""YOLO random affine that warps straight into the output size (used by ``pipeline.TrainAugment``).

A warp that kept the input size would, after a 2s x 2s mosaic, warp the whole canvas for a centre crop that throws
3/4 of it away (measured at 640 px: 18 ms vs 4.3 ms per sample). Here the input centre is mapped to the output centre
(+ translation), with scale/rotation/shear about it, in one ``cv2.warpAffine`` into ``size x size``::

    M = T(size/2 + t) . Shear . Rotate&Scale . T(-input centre)

so a mosaic is zoomed/cropped exactly like the YOLO random perspective with a ``-s/2`` border, and a single image
(long side ``size``) comes out letterboxed in grey. Boxes: their 4 corners are transformed and the enclosing box kept.
"""
from __future__ import annotations

import math
import random

import cv2
import numpy as np


def random_affine_matrix(r: random.Random, in_hw: tuple[int, int], size: int, scale: float, translate: float,
                         degrees: float, shear: float) -> np.ndarray:
    """(3, 3) float64 matrix mapping input pixels (h, w = ``in_hw``) to the ``size x size`` output.

    Draws, in this order, from ``r``: rotation, zoom, x shear, y shear, x translation, y translation (one
    ``uniform`` each, also when its range is 0, so the stream of draws does not depend on the settings).
    """
    h, w = in_hw
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], np.float64)
    rot = np.eye(3)
    rot[:2] = cv2.getRotationMatrix2D((0, 0), r.uniform(-degrees, degrees), r.uniform(1 - scale, 1 + scale))
    sh = np.eye(3)
    sh[0, 1] = math.tan(math.radians(r.uniform(-shear, shear)))
    sh[1, 0] = math.tan(math.radians(r.uniform(-shear, shear)))
    move = np.eye(3)
    move[0, 2] = size / 2 + r.uniform(-translate, translate) * size
    move[1, 2] = size / 2 + r.uniform(-translate, translate) * size
    return move @ sh @ rot @ centre


def warp_image(img: np.ndarray, matrix: np.ndarray, size: int, fill: int, out: np.ndarray | None = None) -> np.ndarray:
    """``img`` (H, W, C) uint8 warped by ``matrix`` (3, 3) into (size, size, C), bilinear, ``fill`` outside.

    out: a (size, size, C) array to write into (reused between samples). A 4-channel image warps ~3x faster than a
    3-channel one (OpenCV's vectorised path) and gives its first 3 channels the same values (checked by a test)."""
    value = (fill,) * img.shape[2] if img.ndim == 3 else fill
    if out is not None and (out.shape != (size, size, *img.shape[2:]) or out.dtype != img.dtype):
        out = None
    return cv2.warpAffine(img, matrix[:2], (size, size), dst=out, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=value)


def warp_source_region(matrix: np.ndarray, size: int, in_hw: tuple[int, int], margin: int = 4
                       ) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the input (h, w = ``in_hw``) that :func:`warp_image` reads for a ``size x size`` output:
    the box around the inverse images of the output's corner pixels, widened by ``margin`` px (bilinear reads the
    next pixel; OpenCV's fixed-point coordinates are within 1/32 px of these) and clipped to the input."""
    h, w = in_hw
    (a, b, tx), (c, d, ty) = matrix[0].tolist(), matrix[1].tolist()
    det = a * d - b * c
    if not math.isfinite(det) or abs(det) < 1e-12:  # zoom ~0: keep it simple, the whole input
        return 0, 0, w, h
    xs, ys = [], []
    for x, y in ((0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)):  # inverse map of the corner pixels
        xs.append((d * (x - tx) - b * (y - ty)) / det)
        ys.append((a * (y - ty) - c * (x - tx)) / det)
    if max(map(abs, xs + ys)) > 1e9:
        return 0, 0, w, h
    x1, y1 = math.floor(min(xs)) - margin, math.floor(min(ys)) - margin
    x2, y2 = math.ceil(max(xs)) + margin + 1, math.ceil(max(ys)) + margin + 1
    return max(int(x1), 0), max(int(y1), 0), min(int(x2), w), min(int(y2), h)


def warp_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(n, 4) xyxy pixels -> (n, 4) float64 pixels: the box enclosing the 4 transformed corners."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = b[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 4, 2)  # (n, 4 corners, xy)
    xy = corners @ matrix[:2, :2].T + matrix[:2, 2]
    return np.concatenate([xy.min(1), xy.max(1)], 1)
