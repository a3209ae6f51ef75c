"""Training and validation from LitData shards (``yolo12l optimize-data``): :class:`StreamingDataModule`.

The samples are made by the folder loader's own code (:class:`~.dataset.DetectionDataset`: the same augmentation
pipeline, letterbox, collation and ``(seed, epoch, index)`` seeding); only where the images come from and the
mosaic partner window differ:

* **Order and placement** are LitData's (``litdata.StreamingDataset`` + ``StreamingDataLoader``): each epoch the
  chunks are shuffled with ``seed + epoch`` and spread over every rank of every node and each rank's workers, then
  the items of a chunk are shuffled in place (a *chunk-local* shuffle: consecutive items of one chunk stay together
  in the epoch). Ranks read disjoint items (LitData drops the remainder under DDP so ranks get equal counts).
* **Mosaic / mixup partners** are drawn, from the sample's generator seeded with ``(seed, epoch, index)``, among the
  indices of the sample's *chunk* (``--chunk-size`` items, default 64). A worker reads a chunk's items one after the
  other, so the partners are images it has just decoded (kept in a per-process buffer of decoded images): about one
  decode per sample, and a sample is a pure function of ``(seed, epoch, index)`` (not of the rank, worker or resume
  point). The window is the chunk instead of the batch (the folder loader's) because a LitData batch depends on the
  number of workers and ranks, a chunk does not.
* **Epoch**: LitData's loader counts epochs from 1; the samples of its epoch ``k`` use epoch ``k - 1`` (the trainer's
  epoch), and ``close_mosaic`` counts back from ``trainer.max_epochs`` as in the folder loader.
* **Resume**: ``StreamingDataLoader`` has ``state_dict`` / ``load_state_dict``; Lightning stores it in the checkpoint
  (the fit loop's ``combined_loader`` state) and this DataModule also keeps it (its own ``state_dict``), applied to the
  next train loader, so a run resumed from a mid-epoch checkpoint continues with the next unseen batch.

Shards are read only as bytes, numbers and numpy arrays: a shard set whose index asks for pickled items is refused.
Validation letterboxes every image to ``imgsz`` square (rectangular batches need the whole split sorted by aspect
ratio, which a stream does not have).
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")  # LitData asks PyPI (30 s timeout) per dataset otherwise
from litdata import StreamingDataLoader, StreamingDataset  # noqa: E402
from litdata.streaming.sampler import ChunkedIndex  # noqa: E402

from ..errors import ConfigError
from .collate import batch_tensor, collate_detections, collate_training
from .datamodule import DetectionDataModule
from .dataset import DetectionDataset
from .image_cache import decode_resized
from .images import MAX_PIXELS, read_image
from .optimize import META_FILE, item_record
from .records import DatasetReport, ImageRecord, NoUsableDataError, ParsedSplit
from .transforms import AugmentConfig

log = logging.getLogger("yolo12l.data")
# Lightning's "IterableDataset has __len__ ... could be inaccurate with num_workers > 1": LitData splits the items
# between the workers itself, so the length is right.
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
_SAFE_FORMATS = ("bytes", "int", "float", "str", "numpy", "no_header_numpy", "bool")


def _is_remote(path: str) -> bool:
    return "://" in str(path)


def read_meta(input_dir: str, cache_dir: str | None = None) -> dict[str, Any]:
    """The side file of a shard folder (local or ``s3://``) written by ``optimize-data``; also checks that the
    index only holds safe item formats (no pickle)."""
    if _is_remote(input_dir):
        from litdata.streaming.downloader import get_downloader

        from .cache import default_cache_dir

        key = hashlib.sha1(input_dir.rstrip("/").encode()).hexdigest()[:16]
        local = Path(cache_dir or default_cache_dir()) / "yolo12l_shard_meta" / key
        local.mkdir(parents=True, exist_ok=True)
        dl = get_downloader(input_dir, str(local), [])
        for name in (META_FILE, "index.json"):
            dl.download_file(f"{input_dir.rstrip('/')}/{name}", str(local / name))
        folder = local
    else:
        folder = Path(input_dir)
        if not (folder / "index.json").is_file():
            raise ConfigError(f"{folder}: not a shard folder (no index.json; write one with `yolo12l optimize-data`)")
    if not (folder / META_FILE).is_file():
        raise ConfigError(f"{input_dir}: no {META_FILE} (shards not written by `yolo12l optimize-data`)")
    meta = json.loads((folder / META_FILE).read_text())
    formats = json.loads((folder / "index.json").read_text())["config"]["data_format"]
    unsafe = [f for f in formats if f.split(":")[0] not in _SAFE_FORMATS]
    if unsafe:
        raise ConfigError(f"{input_dir}: shard items of format {unsafe} (only bytes / numbers / numpy are read, "
                          "never pickled objects)")
    return meta


class _ShardItems:
    """Recently read shard items by global index (a bounded LRU: about two chunks). Thread-safe: the sample threads
    of a worker may ask for a partner's item at once (LitData's reader is then entered by one of them at a time)."""

    def __init__(self, read: Any, keep: int) -> None:
        self.read, self.keep = read, int(keep)
        self._items: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._lock = threading.RLock()

    def put(self, i: int, item: dict[str, Any]) -> None:
        with self._lock:
            self._items[i] = item
            self._items.move_to_end(i)
            while len(self._items) > self.keep:
                self._items.popitem(last=False)

    def __call__(self, i: int) -> dict[str, Any]:
        with self._lock:
            item = self._items.get(i)
            if item is None:
                item = self.read(i)
                self.put(i, item)
            return item

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


class _ShardRecords(Sequence):
    """The records of the shards, read lazily from their items (``DetectionDataset.records``)."""

    def __init__(self, items: _ShardItems, n: int) -> None:
        self.items, self.n = items, int(n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> ImageRecord:  # type: ignore[override]
        return item_record(self.items(int(i)))


class _ShardImages:
    """Training images decoded from the shard bytes, long side ``imgsz``, with a buffer of the last ``keep``."""

    def __init__(self, items: _ShardItems, imgsz: int, max_pixels: int | None, keep: int) -> None:
        self.items, self.imgsz, self.max_pixels, self.keep = items, int(imgsz), max_pixels, int(keep)
        self._buf: OrderedDict[int, np.ndarray] = OrderedDict()
        self.decodes = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _data(self, i: int) -> tuple[str, bytes]:
        item = self.items(i)
        return bytes(item["file"]).decode(), bytes(item["image"])

    def get(self, i: int) -> np.ndarray:
        """Image ``i`` decoded (or from the buffer). Threads of one block ask through the dataset's memo, so an
        image is decoded once per block; the lock guards the buffer only, never a decode."""
        with self._lock:
            img = self._buf.get(i)
            if img is not None:
                self._buf.move_to_end(i)
                return img
        name, data = self._data(i)
        img = decode_resized(name, self.imgsz, self.max_pixels, data=data)
        with self._lock:
            self.decodes += 1
            self._buf[i] = img
            self._buf.move_to_end(i)
            while len(self._buf) > self.keep:
                self._buf.popitem(last=False)
        return img

    def original(self, i: int) -> np.ndarray:
        name, data = self._data(i)
        return read_image(name, max_pixels=self.max_pixels, data=data)


class _ShardSamples(DetectionDataset):
    """:class:`DetectionDataset` over the shards: evaluation images decoded from the shard bytes too."""

    def read_original(self, i: int) -> np.ndarray:
        return self.images.original(i)  # type: ignore[attr-defined]

    def train_item_into(self, index: int, out: torch.Tensor) -> dict[str, Any]:
        """Training sample ``index`` with its image written into ``out`` ((3, imgsz, imgsz) uint8, a batch row)."""
        return self._train_item(index, out)


def _chunk_window(starts: list[int], n: int, epoch: int, index: int) -> np.ndarray:
    """(k,) global indices of the chunk holding ``index`` (the partner window; the same in every epoch)."""
    c = bisect.bisect_right(starts, int(index)) - 1
    stop = starts[c + 1] if c + 1 < len(starts) else n
    return np.arange(starts[c], stop)


class StreamingDetectionDataset(StreamingDataset):
    """``litdata.StreamingDataset`` yielding our training (``augment``) or evaluation samples; see the module doc.
    ``samples`` is the :class:`DetectionDataset` that makes them (``samples[i]``: sample ``i`` of the epoch).

    ``batch_rows`` (the DataModule sets it to the training batch size): streamed training samples are written into
    the consecutive rows of ``(batch_rows, 3, imgsz, imgsz)`` tensors (in a worker in shared memory), one per batch
    the DataLoader's fetcher collects from this process, so the collate passes the batch on uncopied (as the folder
    loader's ``__getitems__``). A batch that is not one tensor's rows (another batch size) is copied, as before.

    Sample threads: in a worker whose thread budget is above 1 (``worker_threads.py``) the items up to the end of the
    current batch tensor are read from LitData first (in order, by the thread that iterates), then their samples are
    made by the worker's sample threads, each image decoded once (the dataset's memo, as in the folder loader's
    ``__getitems__``; the buffer of decoded images then holds the chunks a block can span, two at the default
    sizes), and handed out in order. A sample is a pure function of ``(seed, epoch, index)``, so the
    stream is the same as with one thread; the loader's resume state counts the samples the main process received,
    so reading a few items ahead changes nothing there either."""

    batch_rows = 0

    def __init__(self, input_dir: str, imgsz: int, augment: AugmentConfig | None, seed: int,
                 max_pixels: int | None = MAX_PIXELS, shuffle: bool = True, drop_last: bool | None = None,
                 cache_dir: str | None = None, max_cache_size: int | str | None = None,
                 report: DatasetReport | None = None, worker_threads: int | None = None) -> None:
        super().__init__(input_dir, cache_dir=cache_dir, shuffle=shuffle, drop_last=drop_last, seed=seed,
                         max_cache_size=max_cache_size)
        sizes = [int(b) - int(a) for a, b in self.region_of_interest]
        self._starts = [int(s) for s in np.cumsum([0] + sizes[:-1])]
        n = int(sum(sizes))
        chunk = max(sizes) if sizes else 1
        self._items = _ShardItems(functools.partial(StreamingDataset.__getitem__, self), 2 * chunk)
        self._chunk = chunk
        images = _ShardImages(self._items, imgsz, max_pixels, chunk)
        self.samples = _ShardSamples(_ShardRecords(self._items, n), imgsz, augment, report=report, seed=seed,
                                     max_pixels=max_pixels, mosaic_window=chunk, images=images,  # type: ignore
                                     windows=functools.partial(_chunk_window, self._starts, n),
                                     worker_threads=worker_threads)

    def __iter__(self) -> StreamingDetectionDataset:
        it = super().__iter__()
        self._rows: torch.Tensor | None = None
        self._row = 0
        self._ready: deque[dict[str, Any]] = deque()
        self._ended = False  # LitData raised StopIteration (asking again would count another epoch)
        self.samples._process_setup()  # in this process: sample threads (a pool only in a worker with a budget > 1)
        if self.samples._pool is not None and self.batch_rows > 0:
            # a block's samples run at once and can span several chunks: keep all their images (one decode each)
            chunks = -(-self.batch_rows // self._chunk) + 1
            self.samples.images.keep = chunks * self._chunk  # type: ignore[attr-defined]
            self._items.keep = max(self._items.keep, (chunks + 1) * self._chunk)
        self.samples.set_epoch(max(0, int(self.current_epoch) - 1))
        return it

    def load_stats(self) -> dict[str, float]:
        """Decodes and samples over every process (see :meth:`DetectionDataset.load_stats`)."""
        return self.samples.load_stats()

    def reset_load_stats(self) -> None:
        self.samples.reset_load_stats()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, ChunkedIndex):  # from __next__: read through LitData's chunk bookkeeping
            self._items.put(int(index.index), StreamingDataset.__getitem__(self, index))
            if getattr(self, "_reading_ahead", False):
                return int(index.index)  # its sample is made later, by the sample threads
            return self._next_sample(int(index.index))
        return self.samples[int(index)]

    def __next__(self) -> dict[str, Any]:
        ready = getattr(self, "_ready", None)
        if ready:
            return ready.popleft()
        if self.samples.augment is None or self.batch_rows <= 0:
            return super().__next__()
        if getattr(self.samples, "_pool", None) is None:  # set up in __iter__
            return super().__next__()
        if getattr(self, "_ended", False):
            raise StopIteration
        return self._next_block()

    def _next_row(self) -> torch.Tensor:
        """The next row of the current (batch_rows, 3, imgsz, imgsz) batch tensor (a new tensor when it is full)."""
        if getattr(self, "_rows", None) is None or self._row >= len(self._rows):
            s = self.samples.imgsz
            self._rows, self._row = batch_tensor((self.batch_rows, 3, s, s), torch.empty(0, dtype=torch.uint8)), 0
        assert self._rows is not None
        row, self._row = self._rows[self._row], self._row + 1
        return row

    def _next_block(self) -> dict[str, Any]:
        """Reads the items up to the end of the current batch tensor, makes their samples in the sample threads,
        returns the first and keeps the others for the next calls."""
        rows_left = 0 if getattr(self, "_rows", None) is None else len(self._rows) - self._row
        indices: list[int] = []
        self._reading_ahead = True
        try:
            for _ in range(rows_left or self.batch_rows):
                try:
                    indices.append(StreamingDataset.__next__(self))
                except StopIteration:
                    self._ended = True
                    break
        finally:
            self._reading_ahead = False
        if not indices:
            raise StopIteration
        rows = [self._next_row() for _ in indices]
        s = self.samples
        s._state_view()  # per-process views and counters set up before any thread uses them
        s._memo = {}
        try:
            out = list(s._pool.map(lambda k: s.train_item_into(indices[k], rows[k]), range(len(indices))))
        finally:
            s._memo = None
        self._ready = deque(out[1:])
        return out[0]

    def _next_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index`` of the stream, its training image in the next row of the current batch tensor."""
        if self.samples.augment is None or self.batch_rows <= 0:
            return self.samples[index]
        return self.samples.train_item_into(index, self._next_row())


class StreamingDataModule(DetectionDataModule):
    """Trains and validates from LitData shards written by ``yolo12l optimize-data``.

    Args:
        input_dir / val_dir / test_dir: shard folders (local paths or ``s3://bucket/prefix``) of the train, val and
            test splits (val / test optional).
        shard_cache_dir: where LitData keeps downloaded chunks of remote shards (default: LitData's).
        max_cache_size: LitData's bound on that cache (e.g. ``"50GB"``).
        seed: shuffle and augmentation seed (default: torch's seed at setup, as the folder loader).
        Everything else as :class:`DetectionDataModule` (augmentation, ``imgsz``, batch sizes, workers);
        ``cache_images`` and ``rect_val`` do not apply to streams (refused / ignored).
    """

    TEST_SPLIT_HINT = "set --data.init_args.test_dir"

    def __init__(self, input_dir: str, val_dir: str | None = None, test_dir: str | None = None,
                 shard_cache_dir: str | None = None, max_cache_size: str | None = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        if kwargs.get("cache_images") is not None:
            raise ConfigError("StreamingDataModule: cache_images does not apply to shards (LitData caches chunks)")
        kwargs.setdefault("persistent_workers", False)
        super().__init__(**kwargs)
        self.dirs = {"train": str(input_dir), "val": str(val_dir) if val_dir else None,
                     "test": str(test_dir) if test_dir else None}
        for name, d in self.dirs.items():
            if d and not _is_remote(d) and not Path(d).is_dir():
                raise ConfigError(f"StreamingDataModule: {name} shard folder {d} does not exist")
        self.shard_cache_dir, self.max_cache_size, self.seed = shard_cache_dir, max_cache_size, seed
        self._meta: dict[str, dict[str, Any]] = {}
        self._loaders: dict[str, Any] = {}
        self._pending_state: dict[str, Any] | None = None

    def meta(self, split: str) -> dict[str, Any] | None:
        d = self.dirs[split]
        if d is None:
            return None
        if split not in self._meta:
            self._meta[split] = read_meta(d, self.shard_cache_dir)
        return self._meta[split]

    def _class_info(self) -> tuple[list[str], list[int]]:
        m = self.meta("train")
        assert m is not None
        return list(m["class_names"]), [int(c) for c in m["category_ids"]]

    def parse_split(self, split: str) -> ParsedSplit | None:
        return None  # no parsing: the records are in the shards

    def require_training_boxes(self) -> None:
        m = self.meta("train")
        if m is not None and not m["num_boxes"]:
            raise NoUsableDataError(f"the training shards {self.dirs['train']} have {m['num_images']} images but not "
                                    "one box: nothing to learn")

    def _stream(self, split: str, train: bool):
        m = self.meta(split)
        if m is None:
            raise NoUsableDataError(f"StreamingDataModule: no '{split}' shards configured")
        if m["class_names"] != self.class_names:
            raise ConfigError(f"{self.dirs[split]}: classes {m['class_names']} differ from the training shards' "
                              f"{self.class_names}")
        seed = int(self.seed if self.seed is not None else torch.initial_seed()) % 2**31
        log.info("%s: %d images, %d boxes, %d classes (shards %s)", split, m["num_images"], m["num_boxes"],
                 len(m["class_names"]), self.dirs[split])
        return StreamingDetectionDataset(
            self.dirs[split], self.imgsz, self.augment if train else None, seed, self.max_pixels, shuffle=train,
            drop_last=None if train else False, cache_dir=self.shard_cache_dir, max_cache_size=self.max_cache_size,
            report=DatasetReport(name=self.dirs[split]), worker_threads=self.worker_threads if train else None)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and "train" not in self.datasets:
            self.require_training_boxes()
            self.datasets["train"] = self._stream("train", train=True)
        for split, stages in (("val", (None, "fit", "validate")), ("test", (None, "test"))):
            if stage in stages and split not in self.datasets and self.dirs[split] is not None:
                self.datasets[split] = self._stream(split, train=False)
        if stage in (None, "predict") and self.predict_source is not None and "predict" not in self.datasets:
            super().setup("predict")

    def _streaming_loader(self, split: str, batch_size: int, collate: Any) -> Any:
        loader = StreamingDataLoader(
            self.datasets[split], batch_size=batch_size, num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0, collate_fn=collate)
        self._loaders[split] = loader
        return loader

    def set_epoch(self, epoch: int, total_epochs: int | None = None) -> None:
        if "train" in self.datasets:
            self.datasets["train"].samples.set_epoch(epoch, total_epochs)

    def train_dataloader(self) -> Any:
        if "train" not in self.datasets:
            self.setup("fit")
        ds = self.datasets["train"]
        tr = self.trainer
        if tr is not None and tr.max_epochs is not None and tr.max_epochs > 0:
            ds.samples.set_epoch(tr.current_epoch, tr.max_epochs)  # close_mosaic's last epochs
        ds.batch_rows = self.batch_size  # samples written into their batch (see StreamingDetectionDataset)
        loader = self._streaming_loader("train", self.batch_size,
                                        functools.partial(collate_training, num_classes=self.num_classes))
        if self._pending_state is not None:
            loader.load_state_dict(self._pending_state)
            self._pending_state = None
        return loader

    def val_dataloader(self) -> DataLoader | list:
        if "val" not in self.datasets:
            self.setup("validate")
        if "val" not in self.datasets:
            log.info("StreamingDataModule: no val shards configured, validation skipped")
            return []
        return self._streaming_loader("val", self.val_batch_size, collate_detections)

    def test_dataloader(self) -> Any:
        if "test" not in self.datasets:
            self.setup("test")
        if "test" not in self.datasets:
            raise NoUsableDataError(self.no_test_split_message())
        return self._streaming_loader("test", self.val_batch_size, collate_detections)

    # ------------------------------------------------------------------------------ loader state (checkpoints)
    def state_dict(self) -> dict[str, Any]:
        """The train loader's LitData state (position in the epoch), saved in Lightning checkpoints."""
        loader = self._loaders.get("train")
        return {"train_loader": loader.state_dict()} if loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the train loader's position (applied to the loader made next, or the current one)."""
        state = state_dict.get("train_loader")
        if not state:
            return
        if "train" in self._loaders:
            self._loaders["train"].load_state_dict(state)
        else:
            self._pending_state = state


__all__ = ["StreamingDataModule", "StreamingDetectionDataset", "read_meta"]
