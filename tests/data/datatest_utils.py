"""Helpers for the data tests (imported by name: pytest's default "prepend" import mode puts this folder on
sys.path; the name is unique so it cannot clash with other test folders)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def solid_image(h: int, w: int, boxes=(), colours=(), bg=(90, 90, 90)) -> np.ndarray:
    """RGB uint8 image of colour ``bg`` with each xyxy box filled with its colour."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    for (x1, y1, x2, y2), c in zip(boxes, colours):
        img[int(y1):int(y2), int(x1):int(x2)] = c
    return img


def save_rgb(path: Path, img: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, **kw)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
