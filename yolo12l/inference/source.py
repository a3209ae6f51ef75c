"""What ``predict --source`` names: image files and videos (a file, a folder searched recursively, or a glob)."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from collections.abc import Iterator

import cv2
import numpy as np

from ..data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..errors import UserError

__all__ = ["VIDEO_SUFFIXES", "VideoError", "iter_frames", "list_sources", "video_info"]


class VideoError(UserError, OSError):
    """A video file OpenCV cannot open."""


def list_sources(source: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(image files, video files) of a folder (recursive), a glob pattern or a single file, each sorted. A single
    file with another suffix counts as an image (its decoder then says whether it is one)."""
    s = str(source)
    p = Path(s)
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file()]
    elif p.is_file():
        return ([], [p]) if p.suffix.lower() in VIDEO_SUFFIXES else ([p], [])
    else:
        files = [Path(f) for f in glob.glob(s, recursive=True)]
    images = sorted(f for f in files if f.suffix.lower() in IMAGE_SUFFIXES)
    videos = sorted(f for f in files if f.suffix.lower() in VIDEO_SUFFIXES)
    return images, videos


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: OpenCV cannot open this video")
    return cap


def video_info(path: str | os.PathLike) -> dict[str, float]:
    """``frames`` (as the container says; may be 0 when unknown), ``fps`` (30 when unknown), ``width``,
    ``height``."""
    cap = _open(Path(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        return {"frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), "fps": fps if fps and fps > 0 else 30.0,
                "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}
    finally:
        cap.release()


def iter_frames(path: str | os.PathLike, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index from 0, (H, W, 3) uint8 RGB frame) for every ``stride``-th frame of a video, decoded by OpenCV."""
    cap = _open(Path(path))
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if index % stride == 0:
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
