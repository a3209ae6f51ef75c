"""The training sample pipeline in plain numpy/OpenCV (what ``DetectionDataset`` runs per training sample).

It computes exactly what the albumentations pipelines of ``transforms.py`` (``build_train_geometry`` then
``build_train_color``) compute, step for step: the same functions (:func:`~.mosaic.mosaic_canvas`,
:func:`~.affine.random_affine_matrix`, :func:`~.affine.warp_image`, :func:`~.transforms.apply_hsv`), the same random
draws in the same order — including the one ``random()`` albumentations' ``Compose`` draws per call — and the box rule
of :func:`~.transforms.filter_boxes` after every step, as the Compose bbox processor applies it. Only
albumentations' per-call bookkeeping (format conversions, validity checks, parameter dicts; about 3 ms of the
~25 ms of a 640 px mosaic sample) is gone. ``tests/data/test_pipeline.py`` checks that the samples are equal.

A sample is ``(image (h, w, 3) uint8 RGB, boxes (n, 4) xyxy pixels, labels (n,) int64)``.
"""
from __future__ import annotations

import random

import cv2
import numpy as np

from .affine import random_affine_matrix, warp_boxes, warp_image
from .mosaic import mosaic_canvas, random_center
from .transforms import FILL, AugmentConfig, apply_hsv, filter_boxes, hsv_gains

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


class TrainAugment:
    """Geometry (mosaic -> affine, or letterbox / centre crop without affine) and colour (HSV -> flip) steps.

    ``r`` (a :class:`random.Random`) is the sample's Python generator; the caller draws everything else (mosaic
    partners, mosaic/mixup decisions) from its numpy generator, as before.
    """

    def __init__(self, cfg: AugmentConfig, imgsz: int, fill: int = FILL) -> None:
        self.cfg, self.size, self.fill = cfg, int(imgsz), fill
        self.affine = bool(cfg.scale or cfg.translate or cfg.degrees or cfg.shear)
        self._canvas: np.ndarray | None = None  # reused mosaic canvas (only read by the warp that follows it)

    def geometry(self, r: random.Random, primary: Sample, partners: list[Sample] | None = None) -> Sample:
        """``primary`` (long side ``imgsz``) and, for a mosaic, 3 ``partners`` -> an (imgsz, imgsz) sample."""
        cfg, s = self.cfg, self.size
        r.random()  # the draw of albumentations' Compose call (p=1): kept, so samples stay what they were
        img, boxes, labels = primary
        boxes, labels = filter_boxes(boxes, labels, img.shape[:2])
        if partners is not None:
            items = [(img, boxes, labels)] + [(p[0], *filter_boxes(p[1], p[2], p[0].shape[:2])) for p in partners]
            items += [items[0]] * (4 - len(items))
            img, shifts = mosaic_canvas([it[0] for it in items], random_center(r, s), s, self.fill, out=self._canvas)
            self._canvas = img
            boxes = np.concatenate([it[1] + np.array([dx, dy, dx, dy], np.float64)
                                    for it, (dx, dy) in zip(items, shifts)])
            labels = np.concatenate([it[2] for it in items])
            boxes, labels = filter_boxes(boxes, labels, img.shape[:2], cfg)
        if self.affine:
            m = random_affine_matrix(r, img.shape[:2], s, cfg.scale, cfg.translate, cfg.degrees, cfg.shear)
            img = warp_image(img, m, s, self.fill)
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
        """HSV gains then a horizontal flip with probability ``fliplr``; same size out."""
        cfg = self.cfg
        r.random()  # Compose call draw (see geometry)
        img, boxes, labels = sample
        hw = img.shape[:2]
        boxes, labels = filter_boxes(boxes, labels, hw)
        gains = hsv_gains(r, cfg.hsv_h, cfg.hsv_s, cfg.hsv_v)
        if cfg.hsv_h or cfg.hsv_s or cfg.hsv_v:
            img = apply_hsv(img, gains)
        boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        if cfg.fliplr > 0:
            if cfg.fliplr >= 1 or r.random() < cfg.fliplr:
                img = cv2.flip(img, 1)
                boxes = np.stack([hw[1] - boxes[:, 2], boxes[:, 1], hw[1] - boxes[:, 0], boxes[:, 3]], 1)
            boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        boxes, labels = filter_boxes(boxes, labels, hw, cfg)
        return img, boxes.astype(np.float32), labels.astype(np.int64)
