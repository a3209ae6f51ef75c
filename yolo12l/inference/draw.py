"""Annotated images and videos of predictions (boxes and ``name score`` labels, drawn with PIL)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.visualize import class_colour

__all__ = ["VideoSink", "draw_detections", "save_annotated"]

log = logging.getLogger(__name__)


def draw_detections(image: np.ndarray, pred: dict[str, Any], names: dict[int, str]) -> Image.Image:
    """The image (H, W, 3) uint8 RGB with ``pred``'s boxes (N, 4) xyxy and ``name score`` labels drawn."""
    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    width = max(1, round(min(im.size) / 320))
    for (x1, y1, x2, y2), s, k in zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["classes"].tolist()):
        colour = class_colour(k)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        text = f"{names.get(k, str(k))} {s:.2f}"
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        ty = y1 - (b - t) - 3 if y1 - (b - t) - 3 >= 0 else y1
        draw.rectangle((x1, ty, x1 + (r - l) + 4, ty + (b - t) + 3), fill=colour)
        draw.text((x1 + 2, ty + 1 - t), text, fill=(0, 0, 0), font=font)
    return im


def save_annotated(image: np.ndarray, pred: dict[str, Any], names: dict[int, str], path: str | os.PathLike) -> None:
    """Draws and saves (sub-folders created); a write error is a warning, never the end of the run."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_detections(image, pred, names).save(path)
    except (OSError, ValueError) as exc:
        log.warning("could not write the annotated image %s: %s", path, exc)


class VideoSink:
    """Writes annotated frames to ``path`` (``.mp4``, mp4v codec, the source's frame rate) as they come."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            log.warning("could not open %s for writing: no annotated video", self.path)

    def write(self, image: np.ndarray, pred: dict[str, Any], names: dict[int, str]) -> None:
        if self.writer.isOpened():
            drawn = np.asarray(draw_detections(image, pred, names))
            self.writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
