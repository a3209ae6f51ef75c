"""Robust image reading: EXIF orientation, grayscale/RGBA/palette/16-bit to 8-bit RGB, clear errors.

Policy (documented here once):

* EXIF orientation is applied, so images and boxes live in the *displayed* orientation (what a viewer
  shows and what annotation tools draw on). ``width``/``height`` everywhere are the displayed size.
* Grayscale and palette images are expanded to RGB; the alpha channel of RGBA/LA images is dropped
  (like ``cv2.imread``); 16-bit images are scaled to 8 bits (``v / 257``).
* Verification at setup is cheap: file exists and is non-empty, PIL can parse the header, and JPEG/PNG
  files end with their end marker (``FFD9`` / ``IEND``). Only files failing the end-marker test are fully
  decoded to confirm (truncated files usually still open). ``verify="full"`` decodes every image (slow).
  A file that still fails to decode while training is replaced by another sample (see ``dataset.py``).
* Pixel limit: an image whose header claims more than ``max_pixels`` pixels (default :data:`MAX_PIXELS`, 100 Mpx:
  a 16000x12000 JPEG can be 1 MB on disk and 576 MB decoded) is never decoded: the header check skips it at parse time
  (``IssueKind.TOO_LARGE``, naming its size) and every decoder (OpenCV's JPEG path, PIL) refuses it with an
  :class:`ImageLoadError` before allocating, so no cache fill or worker runs out of memory. PIL's own bomb limit
  (~179 Mpx) stays in force above ours.
* Decoding: baseline/progressive JPEGs with 1 or 3 components that end with their end marker are decoded by
  OpenCV (libjpeg-turbo, EXIF orientation applied, reduced-size DCT decoding for ``draft_size``): the same pixels as
  PIL (checked on every COCO128/VOC128 image and all 8 EXIF orientations), with less overhead (no EXIF parse in
  Python, no copy out of a PIL image). Everything else (CMYK JPEGs, PNG, 16-bit, palette, truncated files) goes
  through PIL as described above.
"""
from __future__ import annotations

import io

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps

from .records import IssueKind

_EXIF_ORIENTATION = 0x0112
_ORIENTATION_SWAPS_AXES = {5, 6, 7, 8}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".asf", ".ts", ".gif")
MAX_PIXELS = 100_000_000  # default pixel limit per image (see the module doc)


class ImageLoadError(OSError):
    """An image could not be read; ``kind`` says why (an :class:`IssueKind`)."""

    def __init__(self, file: str | os.PathLike, kind: IssueKind, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = str(file)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """Header facts: displayed size (EXIF applied), PIL mode, EXIF orientation (1 = none)."""

    width: int
    height: int
    mode: str
    orientation: int

    @property
    def conversion(self) -> str | None:
        """Human-readable note when the pixels are converted on load, else None."""
        if self.mode == "RGB":
            return None
        if self.mode in _SIXTEEN_BIT_MODES:
            return f"16-bit ({self.mode}) image scaled to 8-bit RGB"
        if self.mode in ("RGBA", "LA", "PA"):
            return f"{self.mode} image: alpha channel dropped"
        if self.mode in ("L", "1"):
            return f"grayscale ({self.mode}) image expanded to RGB"
        return f"{self.mode} image converted to RGB"


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError(path, IssueKind.MISSING_IMAGE, "image file not found") from None
    except OSError as e:
        raise ImageLoadError(path, IssueKind.MISSING_IMAGE, f"cannot stat image: {e}") from None
    if size == 0:
        raise ImageLoadError(path, IssueKind.EMPTY_FILE, "image file is empty (0 bytes)")


def _has_end_marker(path: Path, fmt: str | None) -> bool:
    """JPEG ends with FFD9, PNG with the IEND chunk; other formats are not checked (True)."""
    if fmt not in ("JPEG", "PNG"):
        return True
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        n = f.tell()
        f.seek(max(0, n - 64))
        tail = f.read()
    if fmt == "JPEG":
        return b"\xff\xd9" in tail[-16:]  # a few padding bytes after EOI are common
    return b"IEND" in tail[-12:]


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(path, IssueKind.TOO_LARGE, f"{width}x{height} = {width * height / 1e6:.0f} Mpx is over "
                                                        f"the max_pixels limit of {max_pixels / 1e6:g} Mpx")


def _open_pil(path: Path, max_pixels: int | None, data: bytes | None = None) -> Image.Image:
    """``Image.open`` with PIL's decompression-bomb error (raised at open, above ~179 Mpx, before our check can
    see the size) as a TOO_LARGE :class:`ImageLoadError`."""
    try:
        return Image.open(path if data is None else io.BytesIO(data))
    except Image.DecompressionBombError as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        pixels = int(m.group(1)) if m else None
        if pixels is not None and max_pixels is not None and pixels > max_pixels:
            why = f"over the max_pixels limit of {max_pixels / 1e6:g} Mpx"
        else:
            why = f"over PIL's limit of {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} Mpx"
        size = f"{pixels / 1e6:.0f} Mpx" if pixels is not None else "the image"
        raise ImageLoadError(path, IssueKind.TOO_LARGE, f"{size} is {why}") from None


def probe_image(path: str | os.PathLike, full: bool = False, max_pixels: int | None = MAX_PIXELS) -> ImageInfo:
    """Cheap header check (see module doc); ``full=True`` decodes the pixels too. Raises ImageLoadError (kind
    TOO_LARGE for more than ``max_pixels`` pixels, None: no limit of ours)."""
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL DecompressionBomb / EXIF warnings: not our concern here
            with _open_pil(path, max_pixels) as im:
                fmt = im.format
                w, h = im.size
                _check_pixels(path, w, h, max_pixels)
                mode = im.mode
                try:
                    orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
                except Exception:  # malformed EXIF block: ignore orientation
                    orientation = 1
                if full or not _has_end_marker(path, fmt):
                    im.load()
    except ImageLoadError:
        raise
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
        raise ImageLoadError(path, IssueKind.CORRUPT_IMAGE, f"cannot decode image ({type(e).__name__}: {e})") from None
    if orientation in _ORIENTATION_SWAPS_AXES:
        w, h = h, w
    return ImageInfo(width=w, height=h, mode=mode, orientation=orientation if 1 <= orientation <= 8 else 1)


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    if im.mode == "RGB":
        return np.asarray(im)
    if im.mode in _SIXTEEN_BIT_MODES:
        a = np.asarray(im).astype(np.float32)
        a = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.clip(np.rint(np.asarray(im)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(stored height, width, components) from a JPEG's first SOF segment, or None when not found before the scan."""
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # markers without a length
            i += 2
            continue
        if m in _JPEG_SOF:
            return (data[i + 5] << 8) | data[i + 6], (data[i + 7] << 8) | data[i + 8], data[i + 9]
        if m == 0xDA:  # start of scan: no frame header before it
            return None
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    return None


def _read_jpeg_cv2(path: Path, draft_size: int | None, max_pixels: int | None = MAX_PIXELS,
                   data: bytes | None = None) -> np.ndarray | None:
    """OpenCV decode of an ordinary complete JPEG (see the module doc), or None to let PIL handle the file."""
    try:
        data = path.read_bytes() if data is None else data
    except OSError:
        return None
    if len(data) < 16 or data[:2] != b"\xff\xd8" or b"\xff\xd9" not in data[-16:]:
        return None
    frame = _jpeg_frame(data)
    if frame is None or frame[2] not in (1, 3):
        return None
    _check_pixels(path, frame[1], frame[0], max_pixels)
    scale = 1
    if draft_size is not None:  # PIL's draft rule: the largest of 8, 4, 2 keeping both sides >= draft_size
        k = min(frame[1] // draft_size, frame[0] // draft_size)
        scale = next((s for s in (8, 4, 2) if k >= s), 1)
    buf = np.frombuffer(data, np.uint8)
    if scale == 1 and _IMREAD_RGB is not None:
        arr = cv2.imdecode(buf, _IMREAD_RGB)
    else:
        arr = cv2.imdecode(buf, _REDUCED[scale] if scale > 1 else cv2.IMREAD_COLOR)
        if arr is not None:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr)
    return arr if arr is not None and arr.ndim == 3 and arr.shape[2] == 3 else None


def read_image(path: str | os.PathLike, draft_size: int | None = None,
               max_pixels: int | None = MAX_PIXELS, data: bytes | None = None) -> np.ndarray:
    """Decodes an image to a (H, W, 3) uint8 RGB array in displayed orientation. Raises ImageLoadError (kind
    TOO_LARGE, before decoding, when the header claims more than ``max_pixels`` pixels).

    draft_size: for JPEGs, let the decoder downscale by 1/2, 1/4 or 1/8 while both sides stay
    >= ``draft_size`` (much faster for large photos); the caller rescales boxes from the returned shape.
    data: the file's encoded bytes, already read (streaming shards); ``path`` then only names it.
    """
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg", ".jpe"):
        arr = _read_jpeg_cv2(path, draft_size, max_pixels, data)
        if arr is not None:
            return arr
    return _read_pil(path, draft_size, max_pixels, data)


def _read_pil(path: Path, draft_size: int | None = None, max_pixels: int | None = MAX_PIXELS,
              data: bytes | None = None) -> np.ndarray:
    """:func:`read_image` through PIL (every format and mode)."""
    if data is None:
        _check_file(path)
    elif not data:
        raise ImageLoadError(path, IssueKind.EMPTY_FILE, "empty image data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _open_pil(path, max_pixels, data) as im:
                _check_pixels(path, *im.size, max_pixels)
                if draft_size is not None and im.format == "JPEG":
                    im.draft("RGB", (draft_size, draft_size))
                im.load()
                try:
                    orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
                except Exception:
                    orientation = 1
                if orientation in (2, 3, 4, 5, 6, 7, 8):
                    im = ImageOps.exif_transpose(im)
                arr = _to_rgb_array(im)
    except ImageLoadError:
        raise
    except Exception as e:
        raise ImageLoadError(path, IssueKind.LOAD_FAILED, f"cannot decode image ({type(e).__name__}: {e})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageLoadError(path, IssueKind.LOAD_FAILED, f"unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr)


def list_images(source: str | os.PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files (``suffixes``) of a folder (recursive), a glob pattern, or a single file (any suffix); sorted."""
    s = str(source)
    p = Path(s)
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.suffix.lower() in suffixes]
    elif p.is_file():
        files = [p]
    else:
        import glob

        files = [Path(f) for f in glob.glob(s, recursive=True) if Path(f).suffix.lower() in suffixes]
    return sorted(files)


def unique_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Output names of ``paths``: the file name, or for files whose names occur more than once the shortest tail of
    their path (``a/00000.jpg``, ``b/00000.jpg``) that tells them apart. Predictions and drawings use the same name."""
    parts = [Path(p).parts for p in paths]
    depth = {i: 1 for i in range(len(parts))}
    while True:
        names: dict[str, list[int]] = {}
        for i, ps in enumerate(parts):
            names.setdefault("/".join(ps[-depth[i]:]), []).append(i)
        clashes = [ids for ids in names.values() if len(ids) > 1]
        grow = [i for ids in clashes for i in ids if depth[i] < len(parts[i])]
        if not grow:
            return ["/".join(ps[-depth[i]:]) for i, ps in enumerate(parts)]
        for i in grow:
            depth[i] += 1
