"""Process-wide memory-allocator setting for inference commands (``yolo12l predict``).

PyTorch's CPU tensors come from the C allocator. With glibc's defaults a large block (a feature map of a few MB)
is mapped fresh from the kernel and unmapped when freed, or the heap top is trimmed back, so every forward pass
faults its activations in again, page by page (≈ 6,000 page faults per 640² yolo12n forward; 8 % of its CPU
time on the development machine). Raising the mmap and trim thresholds keeps freed blocks in the heap for the next
image — what jemalloc / tcmalloc, the allocators usually preloaded for CPU inference, do by default. The memory
stays with the process until it exits, so only short-lived inference commands call this, never the library.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def retain_freed_memory(mmap_threshold: int = 1 << 30, trim_threshold: int = (1 << 31) - 1) -> bool:
    """Makes glibc keep freed blocks below ``mmap_threshold`` bytes in the heap and trim it only above
    ``trim_threshold`` (``mallopt``). Returns whether the setting took effect (False off Linux / glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no libc to load, or a libc without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # older glibc caps the mmap threshold at 32 MiB (HEAP_MAX_SIZE / 2); fall back to that
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) or bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20))
    return ok and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
