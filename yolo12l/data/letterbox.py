"""Letterbox resize (keep aspect ratio, pad with grey) and the inverse mapping of boxes.

Pure functions on numpy HWC images, shared by validation, prediction and export code:

>>> img2, (ratio, (pad_w, pad_h)) = letterbox(img, 640)            # square 640x640
>>> img3, rp = letterbox(img, 640, auto=True)                      # pad only to a multiple of 32
>>> boxes_orig = scale_boxes(boxes_in_img2, rp, img.shape[:2])     # back to original pixels

A box maps forward as ``x' = x * ratio + pad_w`` (``y' = y * ratio + pad_h``). The resized content is
``round(w * ratio) x round(h * ratio)`` pixels placed at ``(pad_w, pad_h)``; when the padding is odd the
extra pixel goes right/bottom.
"""
from __future__ import annotations

import math
from typing import NamedTuple, TypeVar

import cv2
import numpy as np
import torch

T = TypeVar("T", np.ndarray, torch.Tensor)


class RatioPad(NamedTuple):
    """Resize gain (uniform, or exact per axis ``(ratio_x, ratio_y)``) and the (left, top) padding in pixels:
    ``x' = x * ratio + pad[0]``."""

    ratio: float | tuple[float, float]
    pad: tuple[float, float]


def letterbox(
    image: np.ndarray,
    new_shape: int | tuple[int, int] = 640,
    *,
    auto: bool = False,
    stride: int = 32,
    scaleup: bool = True,
    center: bool = True,
    fill: int = 114,
    interpolation: int | None = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, RatioPad]:
    """Resizes ``image`` (H, W, C) to fit ``new_shape`` = (h, w) (or an int for a square) keeping its aspect
    ratio and pads with ``fill``.

    auto: pad only up to the next multiple of ``stride`` (rectangular inference, like Ultralytics predict)
    instead of to the full ``new_shape``. scaleup: allow enlarging small images. center: split the padding
    on both sides (else pad right/bottom only). interpolation: cv2 flag (INTER_LINEAR like Ultralytics
    predict); None picks INTER_AREA when shrinking and INTER_LINEAR when enlarging (like Ultralytics val).
    Returns the padded image and ``RatioPad(ratio, (pad_w, pad_h))``.
    """
    h0, w0 = image.shape[:2]
    nh, nw = (new_shape, new_shape) if isinstance(new_shape, int) else new_shape
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    uw, uh = round(w0 * r), round(h0 * r)
    dw, dh = nw - uw, nh - uh
    if auto:
        dw, dh = dw % stride, dh % stride
    if (uw, uh) != (w0, h0):
        interp = interpolation if interpolation is not None else (cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
        image = cv2.resize(image, (uw, uh), interpolation=interp)
    left, top = (int(round(dw / 2 - 0.1)), int(round(dh / 2 - 0.1))) if center else (0, 0)
    right, bottom = dw - left, dh - top
    if dw or dh:
        value = (fill,) * image.shape[2] if image.ndim == 3 else fill
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)
    return image, RatioPad(float(r), (float(left), float(top)))


def resize_long_side(image: np.ndarray, size: int, interpolation: int | None = cv2.INTER_LINEAR
                     ) -> tuple[np.ndarray, tuple[float, float]]:
    """Resizes so the long side is ``size``, as Ultralytics 8.4 loads validation images: each side
    ``min(ceil(side·r), size)`` with ``r = size / long side``. Returns the image and its exact per-axis
    ``(ratio_x, ratio_y)``. ``interpolation`` None: INTER_AREA when shrinking, INTER_LINEAR when enlarging."""
    h0, w0 = image.shape[:2]
    r = size / max(h0, w0)
    if r == 1:
        return image, (1.0, 1.0)
    w, h = min(math.ceil(w0 * r), size), min(math.ceil(h0 * r), size)
    interp = interpolation if interpolation is not None else (cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
    return cv2.resize(image, (w, h), interpolation=interp), (w / w0, h / h0)


def _copy(x: T) -> T:
    return x.clone() if isinstance(x, torch.Tensor) else np.array(x, dtype=np.float32, copy=True)


def axis_ratios(ratio: float | tuple[float, float], orig_shape: tuple[int, int] | None) -> tuple[float, float]:
    """The exact per-axis scale of the resize: the content is ``round(w·r) × round(h·r)`` pixels, so x scales by
    ``round(w·r) / w`` and y by ``round(h·r) / h`` (as Ultralytics 8.4 maps boxes back). Without the original
    shape, ``r`` for both. A ``(ratio_x, ratio_y)`` pair is returned as given (resizes with other rounding, e.g.
    :func:`resize_long_side`)."""
    if isinstance(ratio, (tuple, list)):
        return float(ratio[0]), float(ratio[1])
    if orig_shape is None:
        return float(ratio), float(ratio)
    h, w = orig_shape
    return round(w * ratio) / w, round(h * ratio) / h


def boxes_to_letterbox(boxes: T, ratio_pad: RatioPad | tuple, orig_shape: tuple[int, int] | None = None) -> T:
    """(..., 4) xyxy boxes in original pixels -> letterboxed pixels (exact per-axis scale when ``orig_shape``
    = (h, w) is given, see :func:`axis_ratios`)."""
    ratio, (pw, ph) = ratio_pad
    rw, rh = axis_ratios(ratio, orig_shape)
    b = _copy(boxes)
    b[..., [0, 2]] = b[..., [0, 2]] * rw + pw
    b[..., [1, 3]] = b[..., [1, 3]] * rh + ph
    return b


def scale_boxes(boxes: T, ratio_pad: RatioPad | tuple, orig_shape: tuple[int, int], clip: bool = True) -> T:
    """(..., 4) xyxy boxes in letterboxed pixels -> original image pixels (clipped to ``orig_shape`` = (h, w)),
    the exact inverse of the resize (per-axis ratios, :func:`axis_ratios`).

    Works on numpy arrays and torch tensors (device and dtype kept).
    """
    ratio, (pw, ph) = ratio_pad
    rw, rh = axis_ratios(ratio, orig_shape)
    b = _copy(boxes)
    b[..., [0, 2]] = (b[..., [0, 2]] - pw) / rw
    b[..., [1, 3]] = (b[..., [1, 3]] - ph) / rh
    if clip:
        h, w = orig_shape
        b[..., [0, 2]] = b[..., [0, 2]].clip(0, w)
        b[..., [1, 3]] = b[..., [1, 3]].clip(0, h)
    return b
