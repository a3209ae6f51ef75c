"""Training augmentation settings (:class:`AugmentConfig`) and the per-step functions of ``pipeline.TrainAugment``:
HSV gains, the box rule applied after every step, mixup.

Boxes are xyxy pixels; after every step they are clipped and dropped when smaller than ``min_box_size`` px a side,
less than ``min_visibility`` of them remains inside the image, or their aspect ratio exceeds ``max_aspect_ratio``.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

FILL = 114


@dataclass
class AugmentConfig:
    """YOLO training augmentation settings (Ultralytics default values).

    mosaic/mixup/fliplr are probabilities; close_mosaic = number of final epochs without mosaic and mixup;
    scale: zoom in [1-scale, 1+scale]; translate: fraction of the image size; hsv_*: gains;
    albumentations / albumentations_light: see :mod:`~yolo12l.data.photometric`.
    """

    mosaic: float = 1.0
    mixup: float = 0.0
    close_mosaic: int = 10
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5
    min_box_size: float = 2.0
    min_visibility: float = 0.1
    max_aspect_ratio: float = 100.0
    tiles: bool = False  # train on random imgsz crops of the original images (yolo12l.data.tiles)
    tile_empty: float = 0.1  # fraction of tiles drawn without an object
    albumentations: list[Any] | None = None  # your photometric transforms (see photometric.py), on the final image
    albumentations_light: bool = False  # Ultralytics' light step first: Blur, MedianBlur, ToGray, CLAHE at p 0.01

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hsv_gains(r: random.Random, hgain: float, sgain: float, vgain: float) -> list[float]:
    """``[1 + U(-1, 1) * g for g in (hgain, sgain, vgain)]`` (three draws from ``r``, also for a zero gain)."""
    return [1 + r.uniform(-1, 1) * g for g in (hgain, sgain, vgain)]


def apply_hsv(img: np.ndarray, gains: list[float], out: np.ndarray | None = None,
              planes: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) (or RGBX (H, W, 4), the 4th channel ignored) -> (H, W, 3) RGB with hue, saturation, value
    multiplied by ``gains`` (hue wraps at 180, S/V saturate).

    The HSV image is split into its planes, each goes through its own 256-entry table, and the planes are merged
    back (the same values as one 3-channel ``cv2.LUT``, ~1.5x faster: OpenCV's one-channel table lookup is
    vectorised). out: (H, W, 3) uint8 array to compute in; planes: (3, H, W) uint8 scratch array (both reused
    between samples), else new ones."""
    x = np.arange(256, dtype=np.float32)
    luts = (((x * gains[0]) % 180).astype(np.uint8), np.clip(x * gains[1], 0, 255).astype(np.uint8),
            np.clip(x * gains[2], 0, 255).astype(np.uint8))
    if out is not None and (out.shape != (*img.shape[:2], 3) or out.dtype != np.uint8):
        out = None
    if planes is None or planes.shape != (3, *img.shape[:2]) or planes.dtype != np.uint8:
        planes = np.empty((3, *img.shape[:2]), np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV, dst=out)
    chans = list(planes)
    cv2.split(hsv, chans)
    for plane, lut in zip(chans, luts):
        cv2.LUT(plane, lut, dst=plane)
    return cv2.cvtColor(cv2.merge(chans, dst=hsv), cv2.COLOR_HSV2RGB, dst=hsv)


def filter_boxes(boxes: np.ndarray, labels: np.ndarray, hw: tuple[int, int], cfg: AugmentConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Clips (n, 4) xyxy pixel boxes to the image ``hw`` = (h, w) and keeps those with a non-zero area and, with
    ``cfg``, the box rule (sides >= ``min_box_size``, visible fraction >= ``min_visibility``,
    aspect ratio <= ``max_aspect_ratio``). Without ``cfg``: clip and drop empty boxes only (albumentations'
    input check). Returns float64 boxes and their labels."""
    eps = 1e-7
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    if len(b) == 0:
        return np.zeros((0, 4), np.float64), labels[:0]
    h, w = hw
    c = np.minimum(np.maximum(b, 0.0), np.array([w, h, w, h], np.float64))  # (np.clip is slow on tiny arrays)
    cw, ch = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    carea = cw * ch
    if cfg is None:
        keep = carea >= eps
    else:
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        ratio = np.maximum(cw / (ch + eps), ch / (cw + eps))
        keep = ((area >= eps) & (carea / (area + eps) >= cfg.min_visibility) & (cw >= cfg.min_box_size - eps)
                & (ch >= cfg.min_box_size - eps) & (ratio <= cfg.max_aspect_ratio))
    if keep.all():
        return c, labels
    return c[keep], labels[keep]


def mixup(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
          ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blends two same-size samples ``(image, boxes, labels)``: ``ratio * a + (1 - ratio) * b``, boxes of both."""
    img = (a[0].astype(np.float32) * ratio + b[0].astype(np.float32) * (1 - ratio)).round().astype(np.uint8)
    return img, np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]])
