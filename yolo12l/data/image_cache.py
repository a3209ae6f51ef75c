"""Training images decoded and resized once (long side ``imgsz``, what mosaic/affine start from), kept for reuse.

``ResizedImages.get(i)`` returns the same array whether it decodes the file or reads a kept copy, so caching changes
speed only: samples stay a function of ``(seed, epoch, index)``.

* ``cache="ram"``: every image is decoded up front (threads) into one memory-mapped file in ``/dev/shm`` per node
  (``shared_cache.py``): the first local rank fills it, the other ranks map it, forked DataLoader workers share the
  mapping, so the node holds one copy. The size is known before decoding (from the parsed image sizes): when it does
  not fit in the available memory (with a 1.5x margin) a warning says so and images are read from their files
  instead.
* ``cache="disk"``: each image is written once as ``.npy`` under ``cache_dir/images/<imgsz>/`` (file name = hash of
  path, mtime, size, so an edited image gets a new entry); reading one is ~10x cheaper than decoding a JPEG. Free disk
  space is checked the same way.
* ``buffer_bytes``: a per-process LRU of recently decoded images (like Ultralytics' mosaic buffer, but it only
  saves decodes: mosaic partners are still drawn from the whole dataset). Datasets that fit in it are decoded once
  per worker; on large datasets it rarely hits.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .images import MAX_PIXELS, ImageLoadError, read_image
from .records import IssueKind
from .shared_cache import SharedImageStore

log = logging.getLogger("yolo12l.data")
CacheMode = Literal["ram", "disk"]
_VERSION = 1


def decode_resized(file: str | os.PathLike, imgsz: int, max_pixels: int | None = MAX_PIXELS,
                   data: bytes | None = None) -> np.ndarray:
    """(h, w, 3) uint8 RGB with long side ``imgsz`` (bilinear; JPEGs first reduced in the DCT while >= imgsz);
    :class:`ImageLoadError` for more than ``max_pixels`` pixels. ``data``: the file's bytes, already read."""
    img = read_image(file, draft_size=imgsz, max_pixels=max_pixels, data=data)
    h, w = img.shape[:2]
    k = imgsz / max(h, w)
    if k != 1:
        img = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_LINEAR)
    return img


def resized_shapes(sizes: Sequence[tuple[int, int]], imgsz: int) -> list[tuple[int, int]]:
    """(height, width) of the resized images for ``sizes`` = [(width, height), ...] (a side can differ by a pixel
    after a reduced JPEG decode)."""
    out = []
    for w, h in sizes:
        k = imgsz / max(w, h)
        out.append((max(1, round(h * k)), max(1, round(w * k))))
    return out


def resized_nbytes(sizes: Sequence[tuple[int, int]], imgsz: int) -> int:
    """Bytes of the resized images for ``sizes`` = [(width, height), ...] (RGB uint8)."""
    return sum(h * w * 3 for h, w in resized_shapes(sizes, imgsz))


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; psutil elsewhere), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


class ResizedImages:
    """Source of resized training images for ``files``; see the module doc for ``cache`` and ``buffer_bytes``.

    sizes: (width, height) per file as parsed (for the memory/disk estimate). ``fill(on_error)`` decodes everything
    up front for ``cache`` (call it once, in the main process); ``on_error(i, err)`` gets each file that fails.
    """

    def __init__(self, files: Sequence[str], imgsz: int, sizes: Sequence[tuple[int, int]] | None = None,
                 cache: CacheMode | None = None, cache_dir: str | os.PathLike | None = None, buffer_bytes: int = 0,
                 threads: int | None = None, max_pixels: int | None = MAX_PIXELS,
                 local_ranks: int | None = None) -> None:
        if cache not in (None, "ram", "disk"):
            raise ValueError(f"cache_images must be None, 'ram' or 'disk', got {cache!r}")
        self.files, self.imgsz, self.max_pixels = list(files), int(imgsz), max_pixels
        # processes of this node that open the RAM cache (DDP ranks; default $LOCAL_WORLD_SIZE or 1)
        self.local_ranks = int(local_ranks or os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        self.sizes = list(sizes) if sizes is not None else None
        self.cache: CacheMode | None = cache
        self.threads = threads or min(8, os.cpu_count() or 1)
        self._store: SharedImageStore | None = None
        self._disk_dir: Path | None = None
        if cache == "disk":
            from .cache import default_cache_dir

            self._disk_dir = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "images" / str(imgsz)
        self.buffer_bytes = int(buffer_bytes)
        self._lru: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lru_bytes = 0
        self.filled = False
        self.decodes = 0  # files decoded by get() in this process (the fill's decodes not included)
        self._lock_pid: int | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_lock_pid"] = None
        return state

    def _guard(self) -> threading.Lock:
        """This process's lock for the buffer and the decode count (a worker may make samples in several threads)."""
        if self._lock_pid != os.getpid():
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        return self._lock

    # ------------------------------------------------------------------------------------------------ filling
    def estimate_bytes(self) -> int:
        """Bytes of all resized images (exact up to rounding when ``sizes`` were given; else 640x480-like)."""
        if self.sizes is not None:
            return resized_nbytes(self.sizes, self.imgsz)
        return len(self.files) * self.imgsz * math.ceil(self.imgsz * 0.75) * 3

    def _fits(self, need: int, free: int | None, where: str) -> bool:
        if free is None:
            log.warning("cache_images=%r: cannot tell the free %s; caching anyway (%s)", self.cache, where, _gb(need))
            return True
        if need * 1.5 > free:
            log.warning("cache_images=%r needs %s (x1.5 margin) but only %s of %s is free: images are NOT cached, "
                        "they are decoded from their files", self.cache, _gb(need), _gb(free), where)
            return False
        return True

    def fill(self, on_error: Callable[[int, ImageLoadError], None] | None = None) -> bool:
        """Decodes every image into the cache (``cache`` set); returns whether the cache is in use."""
        if self.cache is None or self.filled:
            return self.filled
        t0 = time.perf_counter()
        need = self.estimate_bytes()
        if self.cache == "ram":
            return self._fill_shared(on_error, t0)
        else:
            assert self._disk_dir is not None
            try:
                self._disk_dir.mkdir(parents=True, exist_ok=True)
                missing = [i for i in range(len(self.files)) if not self._npy(i).is_file()]
            except OSError as e:
                log.warning("cache_images='disk': cannot use %s (%s): images are not cached", self._disk_dir, e)
                self.cache = None
                return False
            need = need * len(missing) // max(1, len(self.files))
            if missing and not self._fits(need, shutil.disk_usage(self._disk_dir).free, f"disk at {self._disk_dir}"):
                self.cache = None
                return False

        def one(i: int) -> None:
            if self.cache == "disk" and self._npy(i).is_file():
                return
            try:
                img = decode_resized(self.files[i], self.imgsz, self.max_pixels)
            except ImageLoadError as e:
                if on_error is not None:
                    on_error(i, e)
                return
            self._write_npy(i, img)

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(one, range(len(self.files))))
        log.info("cache_images='disk': %d images (%s) in %.1f s", len(self.files), _gb(need), time.perf_counter() - t0)
        self.filled = True
        return True

    def _fill_shared(self, on_error: Callable[[int, ImageLoadError], None] | None, t0: float) -> bool:
        sizes = self.sizes if self.sizes is not None else [(self.imgsz, math.ceil(self.imgsz * 0.75))] * len(self.files)
        store = SharedImageStore(self.files, self.imgsz, resized_shapes(sizes, self.imgsz))
        errors: dict[int, ImageLoadError] = {}

        def decode(i: int) -> np.ndarray | None:
            try:
                return decode_resized(self.files[i], self.imgsz, self.max_pixels)
            except ImageLoadError as e:
                errors[i] = e
                return None

        ranks = self.local_ranks
        fits = lambda need: self._fits(need, available_memory(), "memory (one copy per node)")  # noqa: E731
        if not store.open_or_fill(decode, fits, self.threads, ranks):
            self.cache = None
            return False
        for i in store.failed():
            if on_error is not None:
                on_error(i, errors.get(i) or ImageLoadError(self.files[i], IssueKind.LOAD_FAILED,
                                                            "could not be decoded when the image cache was filled"))
        self._store = store
        log.info("cache_images='ram': %d images (%s, one copy per node in %s) in %.1f s", len(self.files),
                 _gb(store.nbytes), store.data_path.parent, time.perf_counter() - t0)
        self.filled = True
        return True

    @property
    def _ram(self) -> list[np.ndarray | None]:
        """The RAM cache's images (views of the shared memory; None where decoding failed), for inspection."""
        return [self._store.get(i) for i in range(len(self.files))] if self._store is not None else []

    # ------------------------------------------------------------------------------------------------ disk
    def _npy(self, i: int) -> Path:
        assert self._disk_dir is not None
        p = Path(self.files[i]).resolve()
        try:
            st = p.stat()
            key = f"{p}|{st.st_mtime_ns}|{st.st_size}|{self.imgsz}|v{_VERSION}"
        except OSError:
            key = f"{p}|missing|{self.imgsz}|v{_VERSION}"
        return self._disk_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.npy"

    def _write_npy(self, i: int, img: np.ndarray) -> None:
        path = self._npy(i)
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, img, allow_pickle=False)
            os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
        except OSError as e:
            log.warning("cache_images='disk': cannot write %s (%s)", path, e)

    # ------------------------------------------------------------------------------------------------ reading
    def get(self, i: int) -> np.ndarray:
        """Resized image ``i`` (h, w, 3) uint8; raises :class:`ImageLoadError` when its file cannot be decoded.
        Do not modify the returned array (it may be shared)."""
        if self.cache == "ram" and self.filled and self._store is not None:
            img = self._store.get(i)
            if img is not None:
                return img
        if self.cache == "disk" and self.filled:
            try:
                return np.load(self._npy(i), allow_pickle=False)
            except (OSError, ValueError):
                pass  # not written (decode failed at fill time) or damaged: decode the file
        if self.buffer_bytes <= 0:
            return self._decode(i)
        with self._guard():
            img = self._lru.get(i)
            if img is not None:
                self._lru.move_to_end(i)
                return img
        img = self._decode(i)  # outside the lock: threads decode in parallel
        with self._guard():
            if i not in self._lru:
                self._lru[i] = img
                self._lru_bytes += img.nbytes
            while self._lru_bytes > self.buffer_bytes and len(self._lru) > 1:
                self._lru_bytes -= self._lru.popitem(last=False)[1].nbytes
        return img

    def _decode(self, i: int) -> np.ndarray:
        with self._guard():
            self.decodes += 1
        return decode_resized(self.files[i], self.imgsz, self.max_pixels)
