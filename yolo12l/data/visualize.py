"""Draw a batch (images + targets) as one grid picture, to eyeball augmentation and labels."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch


def class_colour(k: int) -> tuple[int, int, int]:
    """A distinct saturated RGB colour per class index (golden-ratio hue steps)."""
    hsv = np.array([[[int((k * 0.618034 % 1) * 180), 230, 255]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: Sequence[int],
               class_names: Sequence[str] | None = None) -> np.ndarray:
    """Copy of ``image`` (H, W, 3) uint8 RGB with (n, 4) xyxy pixel ``boxes`` and their class names drawn."""
    img = np.ascontiguousarray(image).copy()
    for b, k in zip(np.asarray(boxes).reshape(-1, 4), labels):
        k = int(k)
        c = class_colour(k)
        x1, y1, x2, y2 = (int(round(float(v))) for v in b)
        cv2.rectangle(img, (x1, y1), (x2, y2), c, 1 if min(img.shape[:2]) < 400 else 2, cv2.LINE_AA)
        text = class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        ty = max(y1, th + 2)
        cv2.rectangle(img, (x1, ty - th - 2), (x1 + tw + 2, ty), c, -1)
        cv2.putText(img, text, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def plot_batch(batch: dict, class_names: Sequence[str] | None = None, path: str | os.PathLike | None = None,
               max_images: int = 16) -> np.ndarray:
    """Grid of the batch's images (``batch["images"]`` uint8 (B, 3, H, W)) with ``batch["targets"]``
    (N, 6) boxes drawn; written to ``path`` (PNG/JPEG by suffix) when given. Returns the RGB grid."""
    images: torch.Tensor = batch["images"][:max_images].cpu()
    targets: torch.Tensor = batch["targets"].cpu()
    n, _, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i in range(n):
        t = targets[targets[:, 0] == i]
        cx, cy, bw, bh = (t[:, 2] * w, t[:, 3] * h, t[:, 4] * w, t[:, 5] * h)
        boxes = torch.stack((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), 1).numpy()
        img = draw_boxes(images[i].permute(1, 2, 0).numpy(), boxes, t[:, 1].long().tolist(), class_names)
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
        cv2.rectangle(grid, (c * w, r * h), ((c + 1) * w - 1, (r + 1) * h - 1), (255, 255, 255), 1)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
    return grid
