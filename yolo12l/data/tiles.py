"""Tile training: random ``size x size`` crops of the original-resolution image instead of the whole image
resized to ``imgsz`` (small objects on large images keep their pixels; at inference slice the same way,
:mod:`yolo12l.inference.slicing`).

A tile is drawn from the sample's generator, so samples stay a function of ``(seed, epoch, index)``:

* with probability ``empty_rate`` an *empty* tile: uniform windows are tried until one holds no box centre (after
  ``tries`` failures the last uniform window is used, so an image full of objects still gives a tile);
* otherwise a tile *around an object*: a box is chosen uniformly, and the window uniformly among the positions that
  contain the box (its centre, where the box is larger than the tile); an image without boxes gives a uniform tile.

Windows lie inside the image (a side shorter than ``size`` is taken whole). Boxes are shifted into the tile and
clipped by the augmentation's visibility rule (:func:`yolo12l.data.transforms.filter_boxes`: a box keeps at least
``min_visibility`` of its area and ``min_box_size`` px a side, or is dropped).
"""
from __future__ import annotations

import numpy as np

from .transforms import AugmentConfig, filter_boxes

__all__ = ["random_tile", "crop_tile"]


def _start(rng: np.random.Generator, length: int, size: int, lo: float | None = None,
           hi: float | None = None) -> int:
    """A start in [0, length - size] (uniform), restricted to windows covering [lo, hi] where given."""
    last = max(length - size, 0)
    a, b = 0, last
    if lo is not None and hi is not None:
        if hi - lo <= size:
            a, b = max(a, int(np.ceil(hi - size))), min(b, int(np.floor(lo)))
        else:  # the box is larger than the tile: cover its centre
            c = (lo + hi) / 2
            a, b = max(a, int(np.ceil(c - size))), min(b, int(np.floor(c)))
        if a > b:
            a = b = min(max(a, 0), last)
    return int(rng.integers(a, b + 1))


def random_tile(rng: np.random.Generator, hw: tuple[int, int], boxes: np.ndarray, size: int,
                empty_rate: float = 0.1, tries: int = 10) -> tuple[int, int, int, int]:
    """A window ``(x1, y1, x2, y2)`` of at most ``size x size`` inside an image of ``hw`` = (h, w) with ``boxes``
    (n, 4) xyxy pixels, drawn as the module docstring says."""
    h, w = hw
    tw, th = min(size, w), min(size, h)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if rng.random() < empty_rate or len(b) == 0:
        centres = (b[:, :2] + b[:, 2:]) / 2
        for _ in range(tries):
            x, y = _start(rng, w, size), _start(rng, h, size)
            inside = ((centres[:, 0] >= x) & (centres[:, 0] < x + tw) & (centres[:, 1] >= y)
                      & (centres[:, 1] < y + th))
            if not inside.any():
                break
        return x, y, x + tw, y + th
    k = int(rng.integers(len(b)))
    x = _start(rng, w, size, b[k, 0], b[k, 2])
    y = _start(rng, h, size, b[k, 1], b[k, 3])
    return x, y, x + tw, y + th


def crop_tile(img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, window: tuple[int, int, int, int],
              cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tile (th, tw, 3), its boxes (m, 4) float64 xyxy tile pixels, labels (m,)): ``img`` cut to ``window``,
    boxes shifted and clipped by the visibility rule of ``cfg``."""
    x1, y1, x2, y2 = window
    shifted = np.asarray(boxes, np.float64).reshape(-1, 4) - np.array([x1, y1, x1, y1], np.float64)
    b, lab = filter_boxes(shifted, labels, (y2 - y1, x2 - x1), cfg)
    return img[y1:y2, x1:x2], b, lab
