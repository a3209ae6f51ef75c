"""One RAM copy of the decoded training images per node, shared by every DDP rank and DataLoader worker.

``cache_images: ram`` stores the resized images in one memory-mapped file in ``/dev/shm`` (RAM-backed; the system
temp folder where there is none). The first process of the node to take the file lock checks the free memory once
(one copy for the node, x1.5 margin), decodes every image into the file (threads) and writes its index; the other
local ranks wait on the lock, then map the same file. Forked DataLoader workers inherit the mapping. Every opener
counts itself in the index; the last of ``LOCAL_WORLD_SIZE`` openers unlinks the files, so the memory goes back to
the system when the last process exits (a crash included), and nothing is left in ``/dev/shm``.

The file name is a hash of the image list (path, size, mtime), ``imgsz`` and the job's ``MASTER_ADDR:MASTER_PORT``
(the same on every rank of a job), so two jobs never share a half-written cache. A file left by a run that died
while filling has no index and is filled again.

Layout: ``<name>.img`` — per image a slot of (h + 1) x (w + 1) x 3 bytes (a reduced JPEG decode can differ by a
pixel from the estimate); ``<name>.idx`` — int64 (n, 4): offset, height, width, ok (0: decoding failed), then one
int64 row [openers, 0, 0, 0]; ``<name>.lock`` — the ``flock`` file.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger("yolo12l.data")


def shm_dir() -> Path:
    """``/dev/shm`` where it exists (RAM-backed), else the system temp folder."""
    d = Path("/dev/shm")
    return d if d.is_dir() and os.access(d, os.W_OK) else Path(tempfile.gettempdir())


def cache_key(files: Sequence[str], imgsz: int) -> str:
    """Hash of the image list (path, size, mtime), ``imgsz`` and the job's master address."""
    h = hashlib.sha1(f"{imgsz}|{os.environ.get('MASTER_ADDR', '')}:{os.environ.get('MASTER_PORT', '')}|".encode())
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}|missing\n".encode())
    return h.hexdigest()[:20]


class SharedImageStore:
    """The node's shared RAM cache for ``files`` at ``imgsz``; ``slots`` = [(h, w)] estimated resized sizes."""

    def __init__(self, files: Sequence[str], imgsz: int, slots: Sequence[tuple[int, int]],
                 directory: str | os.PathLike | None = None) -> None:
        self.n = len(files)
        self.files, self.imgsz = list(files), int(imgsz)
        self.slot_bytes = np.array([(h + 1) * (w + 1) * 3 for h, w in slots], np.int64)
        base = Path(directory) if directory is not None else shm_dir()
        stem = base / f"yolo12l-images-{cache_key(self.files, self.imgsz)}"
        self.data_path, self.index_path, self.lock_path = (stem.with_suffix(s) for s in (".img", ".idx", ".lock"))
        self._data: np.memmap | None = None
        self._index: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.slot_bytes.sum())

    def open_or_fill(self, decode: Callable[[int], np.ndarray | None], fits: Callable[[int], bool],
                     threads: int, local_ranks: int) -> bool:
        """Maps the node's cache, filling it first when this process is the first (``decode(i)``: the resized image,
        or None when it cannot be decoded; ``fits(bytes)``: the memory check). Returns whether the cache is in use."""
        with open(self.lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = self._read_index()
                if index is None:
                    if not fits(self.nbytes):
                        self.lock_path.unlink(missing_ok=True)
                        return False
                    index = self._fill(decode, threads)
                index[self.n, 0] += 1  # this opener
                self._write_index(index)
                self._index = index
                self._data = np.asarray(np.memmap(self.data_path, np.uint8, "r", shape=(max(1, self.nbytes),)))
                if index[self.n, 0] >= local_ranks:  # every local rank has it mapped: unlink the names
                    for p in (self.data_path, self.index_path, self.lock_path):
                        p.unlink(missing_ok=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return True

    def _read_index(self) -> np.ndarray | None:
        try:
            index = np.fromfile(self.index_path, np.int64)
        except OSError:
            return None
        if index.size != (self.n + 1) * 4 or not self.data_path.is_file():
            return None
        return index.reshape(self.n + 1, 4)

    def _write_index(self, index: np.ndarray) -> None:
        tmp = self.index_path.with_suffix(".idx.tmp")
        index.tofile(tmp)
        os.replace(tmp, self.index_path)  # readers see the old or the new index, never half of one

    def _fill(self, decode: Callable[[int], np.ndarray | None], threads: int) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.slot_bytes)[:-1]]).astype(np.int64)
        index = np.zeros((self.n + 1, 4), np.int64)
        index[: self.n, 0] = offsets
        with open(self.data_path, "wb") as f:
            f.truncate(max(1, self.nbytes))
        data = np.memmap(self.data_path, np.uint8, "r+", shape=(max(1, self.nbytes),))

        def one(i: int) -> None:
            img = decode(i)
            if img is None:
                return
            h, w = img.shape[:2]
            if h * w * 3 > self.slot_bytes[i]:
                raise RuntimeError(f"{self.files[i]}: decoded {w}x{h} does not fit its cache slot")
            data[offsets[i]:offsets[i] + h * w * 3] = img.reshape(-1)
            index[i, 1:] = (h, w, 1)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(self.n)))
        data.flush()  # the map closes when ``data`` goes out of scope
        return index

    def get(self, i: int) -> np.ndarray | None:
        """Image ``i`` (h, w, 3) uint8, a read-only view of the shared memory; None when it failed to decode."""
        assert self._index is not None and self._data is not None
        off, h, w, ok = (int(v) for v in self._index[i])
        if not ok:
            return None
        return self._data[off:off + h * w * 3].reshape(h, w, 3)

    def failed(self) -> list[int]:
        """Indices whose image could not be decoded when the cache was filled."""
        assert self._index is not None
        return [int(i) for i in np.nonzero(self._index[: self.n, 3] == 0)[0]]
