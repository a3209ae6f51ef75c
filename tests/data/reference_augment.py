"""The albumentations pipeline that training used before ``yolo12l.data.pipeline``: the independent reference that
``test_pipeline.py`` compares the fast pipeline with (like ``tests/training/reference_recipe.py`` for the recipe).

Training sample = geometry then colour:

* geometry, mosaic on: ``YoloMosaic`` (2s x 2s canvas) -> ``YoloAffine`` (scale, translate, optional
  rotate/shear about the canvas centre, warped straight into s x s, grey fill).
* geometry, mosaic off: ``YoloAffine`` on the image (long side s), which also letterboxes it into s x s. With every
  affine setting 0 the affine is replaced by an exact letterbox (``A.LongestMaxSize`` + centred ``A.PadIfNeeded``,
  grey 114; ``A.CenterCrop`` of the mosaic).
* colour/flip: :class:`RandomHSV` (YOLO multiplicative HSV gains) -> ``A.HorizontalFlip``.

Boxes are ``pascal_voc`` pixels; after every step the Compose bbox processor clips them and drops those smaller than
``min_box_size`` px a side, with less than ``min_visibility`` inside the image, or an aspect ratio above
``max_aspect_ratio``. Call the pipelines with ``force_apply=True`` (no draw for the Compose's own probability).

Why not ``A.Mosaic`` (albumentations 2.0.8)? It places each image in a fixed grid cell (grey gaps or crops), and its
output is only ``target_size``, so a following zoom-out shows padding instead of the rest of the mosaic. Why not
``A.Affine``: it keeps the input size, so after a 2s x 2s mosaic it would warp the whole canvas for a centre crop.
"""
from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.mixing import functional as fmixing
from albumentations.core.transforms_interface import DualTransform, ImageOnlyTransform
from albumentations.core.type_definitions import Targets

from yolo12l.data.affine import random_affine_matrix, warp_boxes, warp_image
from yolo12l.data.mosaic import mosaic_canvas, random_center
from yolo12l.data.transforms import FILL, AugmentConfig, apply_hsv, hsv_gains


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


class YoloAffine(DualTransform):
    """Random zoom in ``[1-scale, 1+scale]``, translation ``±translate * size`` px, rotation ``±degrees``,
    shear ``±shear`` degrees; output ``(size, size)`` filled with ``fill`` outside the input."""

    _targets = (Targets.IMAGE, Targets.BBOXES)

    def __init__(self, size: int = 640, scale: float = 0.5, translate: float = 0.1, degrees: float = 0.0,
                 shear: float = 0.0, fill: int = 114, p: float = 1.0):
        super().__init__(p=p)
        self.size, self.scale, self.translate, self.degrees, self.shear, self.fill = (
            size, scale, translate, degrees, shear, fill)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("size", "scale", "translate", "degrees", "shear", "fill")

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = params["shape"][:2]
        m = random_affine_matrix(self.py_random, (h, w), self.size, self.scale, self.translate, self.degrees,
                                 self.shear)
        return {"matrix": m, "in_hw": (h, w)}

    def apply(self, img: np.ndarray, matrix: np.ndarray, **params: Any) -> np.ndarray:
        return warp_image(img, matrix, self.size, self.fill)

    def apply_to_bboxes(self, bboxes: np.ndarray, matrix: np.ndarray, in_hw: tuple[int, int],
                        **params: Any) -> np.ndarray:
        """bboxes: (n, 4+k) normalised to the input (albumentations internal format) -> normalised to output."""
        if len(bboxes) == 0:
            return bboxes
        h, w = in_hw
        out = bboxes.copy()
        out[:, :4] = warp_boxes(bboxes[:, :4].astype(np.float64) * [w, h, w, h], matrix) / self.size
        return out


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
