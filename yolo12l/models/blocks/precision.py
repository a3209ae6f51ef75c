"""Mixed precision inside the network: which dtype a fused kernel computes in, and the head's float32 output.

``torch.autocast`` casts the inputs of the ops on its lists (convolutions, ``addmm``, ``matmul``, SDPA) to its
dtype, but not those of in-place ops (``addmm_``) or of custom kernels (the oneDNN ones in ``onednn.py``): the fused
inference paths cast their operands themselves, to :func:`compute_dtype`. Whatever the network computes in, its
decoded output — boxes and class probabilities, what leaves the model for NMS, metrics, numpy, plots and JSON — is
float32 (:func:`output_dtype`), decoded with autocast off (:func:`autocast_off`): bf16 has 8 significant bits,
so a box edge near 640 px would be rounded to 4 px.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def autocast_enabled(device: str) -> bool:
    """Whether autocast is on for ``device`` (a device type; False for those without autocast, e.g. ``meta``)."""
    return torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matrix products on ``x``'s device run in: autocast's where it is on there, else ``x``'s."""
    device = x.device.type
    if autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def output_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of the network's decoded output for maps of ``x``'s dtype: float32 for float16 / bfloat16 (and
    float32), float64 for float64."""
    return torch.promote_types(x.dtype, torch.float32)


@contextlib.contextmanager
def autocast_off(x: torch.Tensor) -> Iterator[None]:
    """Autocast disabled on ``x``'s device inside the block (a no-op context, nothing traced, where it is off)."""
    device = x.device.type
    if not autocast_enabled(device):
        yield
        return
    with torch.autocast(device_type=device, enabled=False):
        yield
