"""Synthetic detection dataset (the embedded default): coloured shapes on textured backgrounds, COCO format.

Deterministic from its parameters (``seed`` included). Five classes (circle, square, triangle, star,
cross) in saturated colours on desaturated noisy backgrounds, 1 to ``max_objects`` per image, 15-45% of the
short side, randomly rotated, overlapping each other by at most 40% of the smaller box (so some are
partly occluded; boxes are the full shape extent). Written once to
``<cache_dir>/synthetic/<hash of the parameters>/`` as ``images/{train,val}/*.jpg`` and
``annotations/instances_{train,val}.json`` with category ids 1..5 (like COCO, non-zero-based).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .cache import default_cache_dir

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "cross")
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticPaths:
    root: Path
    train_annotations: Path
    train_images: Path
    val_annotations: Path
    val_images: Path


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """(k, 2) vertices of a shape of circumradius ``r`` rotated by ``angle`` radians."""
    if kind == "square":
        t = np.arange(4) * math.pi / 2 + math.pi / 4
        rad = np.full(4, r)
    elif kind == "triangle":
        t = np.arange(3) * 2 * math.pi / 3 - math.pi / 2
        rad = np.full(3, r)
    elif kind == "star":
        t = np.arange(10) * math.pi / 5 - math.pi / 2
        rad = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
    elif kind == "cross":
        a = 0.3 * r  # half arm width
        pts = np.array([[a, r], [a, a], [r, a], [r, -a], [a, -a], [a, -r], [-a, -r], [-a, -a], [-r, -a], [-r, a],
                        [-a, a], [-a, r]])
        c, s = math.cos(angle), math.sin(angle)
        return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]
    else:
        raise ValueError(kind)
    t = t + angle
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], 1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    grey = rng.uniform(60, 200)
    coarse = grey + rng.normal(0, 25, (rng.integers(3, 8), rng.integers(3, 8), 1)) + rng.normal(0, 8, (1, 1, 3))
    img = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = img + rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 7)):  # a few thin texture lines
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        c = int(np.clip(grey + rng.normal(0, 30), 0, 255))
        cv2.line(img, p1, p2, (c, c, c), int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _bright_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(170, 256), rng.integers(150, 256)]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _overlap_ok(box: np.ndarray, boxes: list[np.ndarray], max_frac: float = 0.4) -> bool:
    for b in boxes:
        iw = min(box[2], b[2]) - max(box[0], b[0])
        ih = min(box[3], b[3]) - max(box[1], b[1])
        if iw > 0 and ih > 0:
            small = min((box[2] - box[0]) * (box[3] - box[1]), (b[2] - b[0]) * (b[3] - b[1]))
            if iw * ih > max_frac * small:
                return False
    return True


def place_shape(name: str, cx: float, cy: float, r: float, rng: np.random.Generator
                ) -> tuple[np.ndarray | None, np.ndarray]:
    """A shape of radius ``r`` at (cx, cy): its polygon (None for a circle) and its xyxy box."""
    if name == "circle":
        return None, np.array([cx - r, cy - r, cx + r, cy + r])
    pts = _polygon(name, cx, cy, r, rng.uniform(0, 2 * math.pi))
    return pts, np.array([*pts.min(0), *pts.max(0)])


def draw_shape(img: np.ndarray, pts: np.ndarray | None, cx: float, cy: float, r: float, colour: tuple) -> None:
    """Fills the shape of :func:`place_shape` into ``img`` (anti-aliased, 1/16 px precision)."""
    if pts is None:
        cv2.circle(img, (round(cx * 16), round(cy * 16)), round(r * 16), colour, -1, cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)


def render_image(rng: np.random.Generator, size_range: tuple[int, int], max_objects: int
                 ) -> tuple[np.ndarray, list[list[float]], list[int]]:
    """One RGB image with shapes; returns (image, boxes xyxy pixels, class indices)."""
    h, w = (int(rng.integers(size_range[0], size_range[1] + 1)) for _ in range(2))
    img = _background(rng, h, w)
    count = int(rng.integers(1, max_objects + 1))
    # diameter 15-45% of the short side
    boxes, labels = scatter_shapes(img, rng, SHAPE_CLASSES, count, lambda: rng.uniform(0.075, 0.225) * min(h, w))
    return img, boxes, labels


def scatter_shapes(img: np.ndarray, rng: np.random.Generator, classes: Sequence[str], count: int,
                   radius: Callable[[], float], max_overlap: float = 0.4) -> tuple[list[list[float]], list[int]]:
    """Draws up to ``count`` shapes of ``classes`` into ``img`` (H, W, 3), each of ``radius()`` px at a random place
    (10 tries to overlap earlier boxes by at most ``max_overlap``, else skipped); returns boxes xyxy, class indices."""
    h, w = img.shape[:2]
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(count):
        for _attempt in range(10):
            k = int(rng.integers(len(classes)))
            r = radius()
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            pts, box = place_shape(classes[k], cx, cy, r, rng)
            if _overlap_ok(box, boxes, max_overlap):
                break
        else:
            continue
        colour = _bright_colour(rng)
        draw_shape(img, pts, cx, cy, r, colour)
        boxes.append(np.clip(box, 0, [w, h, w, h]))
        labels.append(k)
    return [b.tolist() for b in boxes], labels


def _write_split(root: Path, split: str, n: int, seed: int, render: Callable[[np.random.Generator], tuple],
                 class_names: Sequence[str], description: str) -> None:
    """Renders ``n`` images with ``render(rng) -> (image, boxes xyxy, labels)`` (rng seeded by (seed, split, index))
    into ``root/images/split`` and their COCO annotations (category ids 1..)."""
    img_dir = root / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
        img, boxes, labels = render(rng)
        name = f"{i:06d}.jpg"
        cv2.imwrite(str(img_dir / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append({"id": i + 1, "file_name": name, "width": img.shape[1], "height": img.shape[0]})
        for b, k in zip(boxes, labels):
            x, y, bw, bh = b[0], b[1], b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": k + 1,
                         "bbox": [round(v, 2) for v in (x, y, bw, bh)], "area": round(bw * bh, 2), "iscrowd": 0})
    cats = [{"id": k + 1, "name": n_, "supercategory": "shape"} for k, n_ in enumerate(class_names)]
    (root / "annotations").mkdir(exist_ok=True)
    with open(root / "annotations" / f"instances_{split}.json", "w") as f:
        json.dump({"info": {"description": f"{description} ({split})"}, "images": images,
                   "annotations": anns, "categories": cats}, f)


def cached_dataset(prefix: str, params: dict, num_train: int, num_val: int, seed: int,
                   render: Callable[[np.random.Generator], tuple], class_names: Sequence[str], description: str,
                   cache_dir: str | os.PathLike | None = None) -> SyntheticPaths:
    """Generates a synthetic COCO dataset once (atomically) under ``<cache>/synthetic/<prefix>-<hash of params>``
    and returns its paths."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    base = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "synthetic"
    root = base / f"{prefix}-{key}"
    if not (root / "params.json").is_file():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=".tmp-"))
        try:
            _write_split(tmp, "train", num_train, seed, render, class_names, description)
            _write_split(tmp, "val", num_val, seed, render, class_names, description)
            (tmp / "params.json").write_text(json.dumps(params, indent=1))
            os.chmod(tmp, 0o755)  # mkdtemp makes it private
            try:
                os.replace(tmp, root)  # atomic publish; fails if another process won the race
            except OSError:
                if not (root / "params.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return SyntheticPaths(root, root / "annotations" / "instances_train.json", root / "images" / "train",
                          root / "annotations" / "instances_val.json", root / "images" / "val")


def synthetic_dataset(
    num_train: int = 64,
    num_val: int = 16,
    seed: int = 0,
    size_range: tuple[int, int] = (160, 320),
    max_objects: int = 6,
    cache_dir: str | os.PathLike | None = None,
) -> SyntheticPaths:
    """Generates the dataset once (atomically) under the cache and returns its paths."""
    params = {"v": GENERATOR_VERSION, "num_train": num_train, "num_val": num_val, "seed": seed,
              "size_range": list(size_range), "max_objects": max_objects}
    return cached_dataset("shapes", params, num_train, num_val, seed,
                          functools.partial(render_image, size_range=size_range, max_objects=max_objects),
                          SHAPE_CLASSES, "yolo12l synthetic shapes", cache_dir)
