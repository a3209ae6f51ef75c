"""Synthetic "large images, tiny objects" detection dataset, COCO format, deterministic from its parameters.

The shapes of :mod:`yolo12l.data.synthetic` (circle, square, triangle: the classes of the shapes checkpoints) drawn
small on large textured backgrounds: by default 1600 x 1600 images with 10 to 60 objects of 8 to 48 px (circumscribed
diameter, uniform), overlapping each other by at most 20% of the smaller box. Letterboxed to 640 the objects are
3-19 px — most below a detector's stride-8 grid — which is the case sliced inference and tile training are for.
Written once to ``<cache_dir>/synthetic/tiny-<hash of the parameters>/`` like the shapes set.
"""
from __future__ import annotations

import functools
import os

import cv2
import numpy as np

from .synthetic import (
    SyntheticPaths,
    _background,
    cached_dataset,
    scatter_shapes,
)

TINY_CLASSES = ("circle", "square", "triangle")
TINY_GENERATOR_VERSION = 1


def render_tiny_image(rng: np.random.Generator, image_size: tuple[int, int], object_size: tuple[float, float],
                      num_objects: tuple[int, int]) -> tuple[np.ndarray, list[list[float]], list[int]]:
    """One RGB image of ``image_size`` = (h, w) with ``num_objects`` = (min, max) shapes of ``object_size`` = (min,
    max) px; returns (image, boxes xyxy pixels, class indices)."""
    h, w = image_size
    img = _background(rng, h, w)
    for _ in range(int(rng.integers(2, 7)) * max(1, (h * w) // (400 * 400))):  # texture lines at the same density
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(p1[0] + rng.normal(0, 80)), int(p1[1] + rng.normal(0, 80)))
        c = int(rng.integers(40, 220))
        cv2.line(img, p1, p2, (c, c, c), int(rng.integers(1, 3)), cv2.LINE_AA)
    count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    boxes, labels = scatter_shapes(img, rng, TINY_CLASSES, count, lambda: rng.uniform(*object_size) / 2, 0.2)
    return img, boxes, labels


def tiny_objects_dataset(
    num_train: int = 24,
    num_val: int = 8,
    seed: int = 0,
    image_size: tuple[int, int] = (1600, 1600),
    object_size: tuple[float, float] = (8.0, 48.0),
    num_objects: tuple[int, int] = (10, 60),
    cache_dir: str | os.PathLike | None = None,
) -> SyntheticPaths:
    """Generates the tiny-objects dataset once (atomically) under the cache and returns its paths."""
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train}, {num_val}")
    if not 1 <= object_size[0] <= object_size[1] < min(image_size):
        raise ValueError(f"object_size must be 1 <= min <= max < the image side, got {object_size}")
    if not 0 <= num_objects[0] <= num_objects[1]:
        raise ValueError(f"num_objects must be 0 <= min <= max, got {num_objects}")
    params = {"v": TINY_GENERATOR_VERSION, "num_train": num_train, "num_val": num_val, "seed": seed,
              "image_size": list(image_size), "object_size": list(object_size), "num_objects": list(num_objects)}
    render = functools.partial(render_tiny_image, image_size=tuple(image_size), object_size=tuple(object_size),
                               num_objects=tuple(num_objects))
    return cached_dataset("tiny", params, num_train, num_val, seed, render, TINY_CLASSES,
                          "yolo12l synthetic tiny objects", cache_dir)
