"""Training augmentation (albumentations pipelines) and the settings that drive them.

Training sample = geometry then colour:

* geometry, mosaic on: ``YoloMosaic`` (2s x 2s canvas) -> ``YoloAffine`` (scale, translate, optional
  rotate/shear about the canvas centre, warped straight into s x s, grey fill).
* geometry, mosaic off (closed or not drawn): ``YoloAffine`` on the image (long side s), which also
  letterboxes it into s x s. With every affine setting 0 the affine is replaced by an exact letterbox
  (``A.LongestMaxSize`` + centred ``A.PadIfNeeded``, grey 114; ``A.CenterCrop`` of the mosaic).
* optional mixup of two geometry outputs (``mixup``; done by the dataset, it needs a second sample);
* colour/flip: :class:`RandomHSV` (YOLO multiplicative HSV gains) -> ``A.HorizontalFlip``.

Boxes are ``pascal_voc`` pixels; after every step they are clipped and dropped when smaller than
``min_box_size`` px a side, less than ``min_visibility`` of them remains inside the image, or their aspect
ratio exceeds ``max_aspect_ratio``.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import ImageOnlyTransform

from .affine import YoloAffine
from .mosaic import YoloMosaic

FILL = 114


@dataclass
class AugmentConfig:
    """YOLO training augmentation settings (Ultralytics default values).

    mosaic/mixup/fliplr are probabilities; close_mosaic = number of final epochs without mosaic and mixup;
    scale: zoom in [1-scale, 1+scale]; translate: fraction of the image size; hsv_*: gains.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hsv_gains(r: random.Random, hgain: float, sgain: float, vgain: float) -> list[float]:
    """``[1 + U(-1, 1) * g for g in (hgain, sgain, vgain)]`` (three draws from ``r``, also for a zero gain)."""
    return [1 + r.uniform(-1, 1) * g for g in (hgain, sgain, vgain)]


def apply_hsv(img: np.ndarray, gains: list[float], out: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) (or RGBX (H, W, 4), the 4th channel ignored) -> (H, W, 3) RGB with hue, saturation, value
    multiplied by ``gains`` (hue wraps at 180, S/V saturate).

    One 3-channel lookup table on the HSV image (the same values as a LUT per channel). out: (H, W, 3) uint8 array
    to compute in (reused between samples), else a new one."""
    x = np.arange(256, dtype=np.float32)
    lut = np.empty((1, 256, 3), np.uint8)
    lut[0, :, 0] = ((x * gains[0]) % 180).astype(np.uint8)
    lut[0, :, 1] = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut[0, :, 2] = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    if out is not None and (out.shape != (*img.shape[:2], 3) or out.dtype != np.uint8):
        out = None
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV, dst=out)
    return cv2.cvtColor(cv2.LUT(hsv, lut, dst=hsv), cv2.COLOR_HSV2RGB, dst=hsv)


class RandomHSV(ImageOnlyTransform):
    """YOLO colour jitter: hue, saturation and value each multiplied by a gain drawn from ``1 + U(-g, g)``.

    Hue (OpenCV 0..179) wraps around, saturation/value saturate at 255. Input: uint8 RGB (H, W, 3).
    """

    def __init__(self, hgain: float = 0.015, sgain: float = 0.7, vgain: float = 0.4, p: float = 1.0):
        super().__init__(p=p)
        self.hgain, self.sgain, self.vgain = hgain, sgain, vgain

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("hgain", "sgain", "vgain")

    def get_params(self) -> dict[str, Any]:
        return {"gains": hsv_gains(self.py_random, self.hgain, self.sgain, self.vgain)}

    def apply(self, img: np.ndarray, gains: list[float], **params: Any) -> np.ndarray:
        if not (self.hgain or self.sgain or self.vgain):
            return img
        return apply_hsv(img, gains)


def bbox_params(cfg: AugmentConfig) -> A.BboxParams:
    return A.BboxParams(
        format="pascal_voc",
        label_fields=["labels"],
        min_width=cfg.min_box_size,
        min_height=cfg.min_box_size,
        min_visibility=cfg.min_visibility,
        max_accept_ratio=cfg.max_aspect_ratio,
        clip=True,
        filter_invalid_bboxes=True,
    )


def filter_boxes(boxes: np.ndarray, labels: np.ndarray, hw: tuple[int, int], cfg: AugmentConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Clips (n, 4) xyxy pixel boxes to the image ``hw`` = (h, w) and keeps those with a non-zero area and, with
    ``cfg``, the rule of :func:`bbox_params` (sides >= ``min_box_size``, visible fraction >= ``min_visibility``,
    aspect ratio <= ``max_aspect_ratio``). Without ``cfg``: clip and drop empty boxes only (albumentations'
    input check). Returns float64 boxes and their labels; the same rule albumentations applies after each step."""
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


def build_train_geometry(cfg: AugmentConfig, imgsz: int, mosaic: bool, seed: int | None = None) -> A.Compose:
    """Geometry pipeline producing (imgsz, imgsz) images; call with ``image, bboxes, labels``
    (+ ``mosaic_metadata`` when ``mosaic``)."""
    steps: list[A.BasicTransform] = [YoloMosaic(imgsz, fill=FILL)] if mosaic else []
    if cfg.scale or cfg.translate or cfg.degrees or cfg.shear:
        steps.append(YoloAffine(imgsz, cfg.scale, cfg.translate, cfg.degrees, cfg.shear, fill=FILL))
    elif mosaic:
        steps.append(A.CenterCrop(imgsz, imgsz))
    else:
        steps += [
            A.LongestMaxSize(max_size=imgsz, interpolation=cv2.INTER_LINEAR),
            A.PadIfNeeded(imgsz, imgsz, position="center", border_mode=cv2.BORDER_CONSTANT, fill=FILL),
        ]
    return A.Compose(steps, bbox_params=bbox_params(cfg), seed=seed)


def build_train_color(cfg: AugmentConfig, seed: int | None = None) -> A.Compose:
    """Colour + flip pipeline (after mosaic/affine/mixup)."""
    steps: list[A.BasicTransform] = [RandomHSV(cfg.hsv_h, cfg.hsv_s, cfg.hsv_v)]
    if cfg.fliplr > 0:
        steps.append(A.HorizontalFlip(p=cfg.fliplr))
    return A.Compose(steps, bbox_params=bbox_params(cfg), seed=seed)


def mixup(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
          ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blends two same-size samples ``(image, boxes, labels)``: ``ratio * a + (1 - ratio) * b``, boxes of both."""
    img = (a[0].astype(np.float32) * ratio + b[0].astype(np.float32) * (1 - ratio)).round().astype(np.uint8)
    return img, np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]])
