"""The training sample pipeline in plain numpy/OpenCV (what ``DetectionDataset`` runs per training sample).

Steps: mosaic (:func:`~.mosaic.mosaic_canvas`) -> random affine (:func:`~.affine.random_affine_matrix`,
:func:`~.affine.warp_image`) or letterbox -> [mixup, by the dataset] -> HSV (:func:`~.transforms.apply_hsv`) ->
horizontal flip -> your photometric albumentations transforms (:mod:`~.photometric`, on the final uint8 image, boxes
untouched), with the box rule of :func:`~.transforms.filter_boxes` after every step. It computes what an
albumentations ``DualTransform`` pipeline of the same steps computes (``tests/data/reference_augment.py``, called
with ``force_apply=True``), without its per-call bookkeeping (format conversions, validity checks, parameter dicts;
about 3 ms of the ~25 ms of a 640 px mosaic sample); ``tests/data/test_pipeline.py`` checks that the samples are
equal.

A sample is ``(image (h, w, 3) uint8 RGB, boxes (n, 4) xyxy pixels, labels (n,) int64)``.
"""
from __future__ import annotations

import random

import cv2
import numpy as np

from .affine import random_affine_matrix, warp_boxes, warp_image, warp_source_region
from .mosaic import mosaic_canvas, random_center
from .photometric import apply_photometric, build_photometric
from .transforms import FILL, AugmentConfig, apply_hsv, filter_boxes, hsv_gains

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


class TrainAugment:
    """Geometry (mosaic -> affine, or letterbox / centre crop without affine) and colour (HSV -> flip) steps.

    ``r`` (a :class:`random.Random`) is the sample's Python generator; the caller draws everything else (mosaic
    partners, mosaic/mixup decisions) from its numpy generator, as before.

    Speed (same values as the step-by-step computation, see ``tests/data/test_pipeline.py``): uint8 RGB images are
    warped as 4-channel RGBX (OpenCV's vectorised path, ~3x faster than 3 channels); a mosaic canvas is only filled
    where the following warp (or centre crop) reads it (:func:`~.affine.warp_source_region`: on average a third of
    it at the default zoom ±0.5); canvas, warp and colour arrays are reused between samples (one instance per
    process).
    """

    def __init__(self, cfg: AugmentConfig, imgsz: int, fill: int = FILL) -> None:
        self.cfg, self.size, self.fill = cfg, int(imgsz), fill
        self.affine = bool(cfg.scale or cfg.translate or cfg.degrees or cfg.shear)
        self._buf: dict[str, np.ndarray] = {}  # reused arrays (only valid until the next call that uses them)
        self.photometric = build_photometric(cfg.albumentations, cfg.albumentations_light)

    def _array(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        a = self._buf.get(key)
        if a is None or a.shape != shape:
            a = self._buf[key] = np.empty(shape, np.uint8)
        return a

    @staticmethod
    def rgb(img: np.ndarray) -> np.ndarray:
        """A :meth:`geometry` image as an (h, w, 3) RGB array the next call does not overwrite (for mixup)."""
        return cv2.cvtColor(img, cv2.COLOR_RGBA2RGB) if img.ndim == 3 and img.shape[2] == 4 else img

    def geometry(self, r: random.Random, primary: Sample, partners: list[Sample] | None = None) -> Sample:
        """``primary`` (long side ``imgsz``) and, for a mosaic, 3 ``partners`` -> an (imgsz, imgsz) sample.

        The image is (imgsz, imgsz, 3) RGB, or (imgsz, imgsz, 4) RGBX (4th channel undefined) held in an array the
        next call overwrites; :meth:`color` takes either, :meth:`rgb` gives an owned RGB array."""
        cfg, s = self.cfg, self.size
        img, boxes, labels = primary
        fast = all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3
                   for im in [img] + [p[0] for p in partners or []])
        boxes, labels = filter_boxes(boxes, labels, img.shape[:2])
        m = None
        if partners is not None:
            items = [(img, boxes, labels)] + [(p[0], *filter_boxes(p[1], p[2], p[0].shape[:2])) for p in partners]
            items += [items[0]] * (4 - len(items))
            center, big = random_center(r, s), 2 * s
            if self.affine:  # drawn after the centre, as before; only the canvas part the warp reads is filled
                m = random_affine_matrix(r, (big, big), s, cfg.scale, cfg.translate, cfg.degrees, cfg.shear)
                region = warp_source_region(m, s, (big, big))
            else:
                o = (big - s) // 2
                region = (o, o, o + s, o + s)
            rgbx = fast and self.affine
            key = "canvas4" if rgbx else "canvas"
            img, shifts = mosaic_canvas([it[0] for it in items], center, s, self.fill, out=self._buf.get(key),
                                        region=region, rgbx=rgbx)
            self._buf[key] = img
            boxes = np.concatenate([it[1] + np.array([dx, dy, dx, dy], np.float64)
                                    for it, (dx, dy) in zip(items, shifts)])
            labels = np.concatenate([it[2] for it in items])
            boxes, labels = filter_boxes(boxes, labels, img.shape[:2], cfg)
        if self.affine:
            if m is None:
                m = random_affine_matrix(r, img.shape[:2], s, cfg.scale, cfg.translate, cfg.degrees, cfg.shear)
                if fast:
                    img = cv2.cvtColor(img, cv2.COLOR_RGB2RGBA, dst=self._array("single4", (*img.shape[:2], 4)))
            four = img.ndim == 3 and img.shape[2] == 4
            img = warp_image(img, m, s, self.fill, out=self._array("warp4", (s, s, 4)) if four else None)
            boxes, labels = filter_boxes(warp_boxes(boxes, m), labels, (s, s), cfg)
        elif partners is not None:  # centre crop of the 2s canvas
            o = (img.shape[0] - s) // 2
            img = np.ascontiguousarray(img[o:o + s, o:o + s])
            boxes, labels = filter_boxes(boxes - o, labels, (s, s), cfg)
        else:  # letterbox: long side s (already, from the loader), then centred grey padding
            h, w = img.shape[:2]
            if max(h, w) != s:
                k = s / max(h, w)
                nw, nh = max(1, round(w * k)), max(1, round(h * k))
                img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
                boxes = boxes * np.array([nw / w, nh / h, nw / w, nh / h])
                h, w = nh, nw
            boxes, labels = filter_boxes(boxes, labels, (h, w), cfg)
            top, left = (s - h) // 2, (s - w) // 2
            if (h, w) != (s, s):
                img = cv2.copyMakeBorder(img, top, s - h - top, left, s - w - left, cv2.BORDER_CONSTANT,
                                         value=(self.fill,) * img.shape[2])
            boxes, labels = filter_boxes(boxes + np.array([left, top, left, top], np.float64), labels, (s, s), cfg)
        boxes, labels = filter_boxes(boxes, labels, (s, s), cfg)
        return img, boxes.astype(np.float32), labels.astype(np.int64)

    def color(self, r: random.Random, sample: Sample) -> Sample:
        """HSV gains, a horizontal flip with probability ``fliplr``, then the photometric albumentations
        transforms (if any); same size out, (h, w, 3) RGB (3 or 4 channels in). The image may be an array the next
        call overwrites (copy it before then)."""
        cfg = self.cfg
        img, boxes, labels = sample
        hw = img.shape[:2]
        boxes, labels = filter_boxes(boxes, labels, hw)
        gains = hsv_gains(r, cfg.hsv_h, cfg.hsv_s, cfg.hsv_v)
        if cfg.hsv_h or cfg.hsv_s or cfg.hsv_v:
            u8 = img.dtype == np.uint8
            img = apply_hsv(img, gains, out=self._array("color", (*hw, 3)) if u8 else None,
                            planes=self._array("hsv_planes", (3, *hw)) if u8 else None)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_RGBA2RGB, dst=self._array("color", (*hw, 3)))
        boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        if cfg.fliplr > 0:
            if cfg.fliplr >= 1 or r.random() < cfg.fliplr:
                img = cv2.flip(img, 1, dst=self._array("flip", img.shape) if img.dtype == np.uint8 else None)
                boxes = np.stack([hw[1] - boxes[:, 2], boxes[:, 1], hw[1] - boxes[:, 0], boxes[:, 3]], 1)
            boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        if self.photometric is not None:
            img = apply_photometric(self.photometric, self.rgb(img), r)
        return img, boxes.astype(np.float32), labels.astype(np.int64)
