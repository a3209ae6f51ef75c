"""Torch datasets over parsed records: training (YOLO augmentation), evaluation (letterbox) and prediction.

A sample is ``{"image": uint8 (3, H, W) RGB, "boxes": float32 (n, 4) xyxy pixels of that image,
"labels": int64 (n,), "meta": {...}}``; see ``collate.py`` for the batch layout and the ``meta`` keys.

Robustness: an image that fails to decode while training is replaced by another random index (its index
is flagged in a shared-memory tensor so no worker tries it again, a warning names the file, and
:meth:`DetectionDataset.collect_load_failures` adds it to the report in the main process). Evaluation and
prediction datasets instead return a grey placeholder without boxes and ``meta["load_failed"] = True``,
so no image is counted twice by a metric.

Epoch state (for ``close_mosaic``) lives in a shared-memory tensor, so :meth:`set_epoch` in the main process
reaches DataLoader workers, persistent ones included.

Reproducibility: all augmentation randomness of training sample ``index`` in epoch ``e`` (mosaic partners, affine,
HSV, flip, mixup, load-failure replacement) is drawn from generators seeded with ``(seed, e, index)``. A sample is
therefore the same whatever the DataLoader worker or number of workers, and a run resumed from a checkpoint sees
exactly the samples of an uninterrupted run (there is no generator state to save or restore).

Mosaic / mixup partners come from the sample's *window*: its ``mosaic_window`` neighbours in the epoch order
(``order.py``; the DataModule sets the window to the batch size, and the sampler makes one batch one window).
:meth:`DetectionDataset.__getitems__` (torch's fetcher passes it a whole batch) decodes each image of the call once
and reuses it as a partner, so a batch costs about one decode per sample on any dataset size;
:meth:`DetectionDataset.load_stats` counts decodes and samples over all workers.

Threads: in a DataLoader worker whose thread budget (``worker_threads.py``: usable CPUs // workers) is above 1, the
samples of one ``__getitems__`` call are made by that many threads (OpenCV's calls release the GIL). Each thread has
its own generator and augmentation buffers (:class:`_SampleState`); a sample draws only from its own seeded
generators, so it is the same whichever thread makes it.
"""
from __future__ import annotations

import functools
import logging
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .collate import batch_tensor
from .image_cache import CacheMode, ResizedImages
from .order import EpochWindows
from .images import MAX_PIXELS, VIDEO_SUFFIXES, ImageLoadError, list_images, read_image, unique_names
from .tiles import crop_tile, random_tile
from .letterbox import RatioPad, boxes_to_letterbox, letterbox, resize_long_side
from .records import DatasetReport, ImageRecord, IssueKind, NoUsableDataError
from .pipeline import TrainAugment
from .transforms import FILL, AugmentConfig, mixup
from .worker_threads import configure_worker_threads, worker_thread_budget

log = logging.getLogger("yolo12l.data")
_NEVER = 2**62
_COUNT_SLOTS = 257


def _to_chw(img: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) tensor; ``cv2.split`` into the planes of one array (~3x a numpy transpose).
    ``out``: a (C, H, W) uint8 tensor to write into (a row of the batch), used when its shape fits."""
    if img.ndim == 3 and img.dtype == np.uint8 and 1 < img.shape[2] <= 4:
        shape = (img.shape[2], *img.shape[:2])
        if out is None or tuple(out.shape) != shape or out.dtype != torch.uint8 or not out.is_contiguous():
            out = torch.from_numpy(np.empty(shape, np.uint8))
        cv2.split(np.ascontiguousarray(img), list(out.numpy()))
        return out
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


class _SampleState:
    """What one thread uses while it makes a training sample: the sample's numpy generator and the augmentation
    (reused arrays)."""

    __slots__ = ("rng", "augment")

    def __init__(self, rng: np.random.Generator, augment: TrainAugment | None) -> None:
        self.rng, self.augment = rng, augment


class DetectionDataset(Dataset):
    """Records -> samples. ``augment=None``: evaluation (letterbox to ``imgsz`` square, no randomness);
    an :class:`AugmentConfig`: training (mosaic, affine, mixup, HSV, flip; output ``imgsz`` square).

    Training images (decoded, long side ``imgsz``) come from :class:`~.image_cache.ResizedImages`:
    ``cache_images`` "ram" / "disk" fills that cache when the dataset is built (``cache_dir`` for "disk");
    ``buffer_bytes`` keeps recently decoded images per process. Neither changes any sample. ``mosaic_window``:
    positions of the epoch order that partners are drawn from (see the module doc; the DataModule uses the batch size).
    ``max_pixels``: images with more pixels are never decoded (they fail like an unreadable file). ``cache_ranks``:
    processes of this node sharing the ``ram`` cache (the DataModule passes the trainer's local DDP ranks).
    ``images`` / ``windows``: another image source (``.get(i)``, ``.decodes``) and partner window (``(epoch, index)
    -> indices``) than the files and the epoch order (the streaming shards, ``streaming.py``).
    """

    def __init__(
        self,
        records: list[ImageRecord],
        imgsz: int = 640,
        augment: AugmentConfig | None = None,
        *,
        report: DatasetReport | None = None,
        max_retries: int = 10,
        seed: int | None = None,
        cache_images: CacheMode | None = None,
        cache_dir: str | os.PathLike | None = None,
        buffer_bytes: int = 0,
        mosaic_window: int = 16,
        max_pixels: int | None = MAX_PIXELS,
        cache_ranks: int | None = None,
        images: ResizedImages | None = None,
        windows: Callable[[int, int], np.ndarray] | None = None,
        worker_threads: int | None = None,
    ) -> None:
        if not records:
            raise NoUsableDataError("dataset has no usable images")
        if augment is not None:
            worker_thread_budget(1)  # a bad $YOLO12L_WORKER_THREADS fails here, not in the workers
        self._local_pid: int | None = None  # per-process, per-thread sample state (see _local)
        self.worker_threads = worker_threads  # sample threads per DataLoader worker (None: worker_threads.py's)
        self.records = records
        self.imgsz = int(imgsz)
        self.augment = augment
        self.report = report if report is not None else DatasetReport()
        self.max_retries = max_retries
        self.max_pixels = max_pixels
        # default: torch's seed in the constructing (main) process, i.e. the one ``seed_everything`` set
        self.seed = int(torch.initial_seed() if seed is None else seed) % 2**63
        self.rng = np.random.default_rng(self.seed)  # re-seeded per training sample by _seed_sample
        # [epoch, first epoch without mosaic]; shared memory so workers see updates.
        self._state = torch.tensor([0, _NEVER], dtype=torch.int64).share_memory_()
        self._failed = torch.zeros(len(records), dtype=torch.uint8).share_memory_()
        # [decodes, samples] per loading process (slot 0: main, 1 + worker id), summed by load_stats()
        self._counts = torch.zeros((2, _COUNT_SLOTS), dtype=torch.int64).share_memory_()
        self.mosaic_window = int(mosaic_window)
        self._windows = windows or EpochWindows(len(records), self.seed, self.mosaic_window)
        self._memo: dict[Any, Future] | None = None  # images decoded in the current __getitems__ call
        self._reported: set[int] = set()
        self.images = images if images is not None else ResizedImages(
            [r.file for r in records], self.imgsz, [(r.width, r.height) for r in records], cache=cache_images,
            cache_dir=cache_dir, buffer_bytes=buffer_bytes, max_pixels=max_pixels, local_ranks=cache_ranks)
        if cache_images is not None and augment is not None:
            self.images.fill(on_error=self._mark_failed)

    def __len__(self) -> int:
        return len(self.records)

    # ----------------------------------------------------------------------------------------- epoch state
    def set_epoch(self, epoch: int, total_epochs: int | None = None) -> None:
        """Sets the current epoch (and, if given, the run length that ``close_mosaic`` counts back from)."""
        self._state[0] = int(epoch)
        if total_epochs is not None and self.augment is not None and self.augment.close_mosaic > 0:
            self._state[1] = max(0, int(total_epochs) - self.augment.close_mosaic)
        elif total_epochs is not None:
            self._state[1] = _NEVER

    @property
    def epoch(self) -> int:
        return int(self._state_view()[0])

    @property
    def mosaic_enabled(self) -> bool:
        """Mosaic (and mixup) active in the current epoch."""
        state = self._state_view()
        return self.augment is not None and self.augment.mosaic > 0 and int(state[0]) < int(state[1])

    def _state_view(self) -> np.ndarray:
        """numpy view of the shared epoch state (reading a torch element costs ~100x more, per sample)."""
        view = getattr(self, "_state_np", None)
        if view is None or self._state_np_pid != os.getpid():
            self._state_np, self._state_np_pid = self._state.numpy(), os.getpid()
            info = torch.utils.data.get_worker_info()
            self._slot = 0 if info is None else 1 + info.id % (_COUNT_SLOTS - 1)
            self._counts_np, self._decodes_seen = self._counts.numpy(), self.images.decodes
            view = self._state_np
        return view

    # ---------------------------------------------------------------------------------------------- statistics
    def _count_sample(self) -> None:
        self._state_view()
        self._process_setup()
        with self._lock:  # samples of one batch may be made by several threads
            decodes = self.images.decodes
            self._counts_np[0, self._slot] += decodes - self._decodes_seen
            self._counts_np[1, self._slot] += 1
            self._decodes_seen = decodes

    def load_stats(self) -> dict[str, float]:
        """Training samples made and image files decoded for them, over every process since the last
        :meth:`reset_load_stats` (cache fills not counted): ``{"samples", "decodes", "decodes_per_sample"}``."""
        decodes, samples = (int(v) for v in self._counts.sum(1))
        return {"samples": samples, "decodes": decodes, "decodes_per_sample": decodes / max(1, samples)}

    def reset_load_stats(self) -> None:
        self._counts.zero_()

    # ---------------------------------------------------------------------------------------------- randomness
    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the per-process threads, locks and per-thread state (rebuilt where it is unpickled)."""
        state = self.__dict__.copy()
        for key in ("_locals", "_lock", "_pool"):
            state.pop(key, None)
        state["_local_pid"] = None
        return state

    def _process_setup(self) -> None:
        """Once per process: its threads (``configure_worker_threads``), the per-thread state, a lock and, in a worker
        with a thread budget above 1, the pool that makes a batch's samples."""
        if self._local_pid != os.getpid():
            self._local_pid = os.getpid()
            self._locals: dict[int, _SampleState] = {}
            self._lock = threading.Lock()
            threads = configure_worker_threads(getattr(self, "worker_threads", None))  # in a worker: its CPUs
            guard = getattr(getattr(self, "images", None), "_guard", None)
            if guard is not None:
                guard()  # the image source's lock, made before any thread needs it
            self._pool = ThreadPoolExecutor(threads, "yolo12l-samples") if threads and threads > 1 else None

    def _local(self) -> _SampleState:
        """This thread's :class:`_SampleState`."""
        self._process_setup()
        st = self._locals.get(threading.get_ident())
        if st is None:
            aug = TrainAugment(self.augment, self.imgsz) if self.augment is not None else None
            st = self._locals[threading.get_ident()] = _SampleState(np.random.default_rng(self.seed), aug)
        return st

    @property
    def rng(self) -> np.random.Generator:
        """The current sample's numpy generator (partners, decisions), per thread."""
        return self._local().rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self._local().rng = value

    @property
    def _augment(self) -> TrainAugment:
        aug = self._local().augment
        assert aug is not None, "a training dataset (augment set) makes training samples"
        return aug

    def _seed_sample(self, index: int) -> random.Random:
        """Seeds ``self.rng`` (numpy: partners, decisions) from ``(seed, epoch, index)`` and returns the sample's
        Python generator (augmentation parameters) derived from the same seed sequence."""
        seq = np.random.SeedSequence([self.seed, self.epoch, int(index)])
        self.rng = np.random.default_rng(seq)
        return random.Random(int(seq.generate_state(1, np.uint64)[0]))

    # -------------------------------------------------------------------------------------------- loading
    def _mark_failed(self, i: int, err: ImageLoadError) -> None:
        self._failed[i] = 1
        log.warning("%s: %s (sample %d replaced)", err.file, err.reason, i)

    def collect_load_failures(self) -> list[str]:
        """Adds newly failed files (flagged by any worker) to the report; returns all failed files."""
        bad = torch.nonzero(self._failed).flatten().tolist()
        for i in bad:
            if i not in self._reported:
                self._reported.add(i)
                what = "sample replaced by another" if self.augment is not None else "evaluated as an empty image"
                self.report.add(IssueKind.LOAD_FAILED, self.records[i].file, f"could not be decoded: {what}")
        return [self.records[i].file for i in bad]

    def _random_ok_index(self) -> int:
        ok = torch.nonzero(self._failed == 0).flatten()
        if len(ok) == 0:
            raise NoUsableDataError(f"every image failed to load ({len(self)} images)")
        return int(ok[int(self.rng.integers(len(ok)))])

    def _memoized(self, key: Any, load: Callable[[], np.ndarray]) -> np.ndarray:
        """``load()``, once per ``key`` within a ``__getitems__`` call: the first thread to ask loads it, the others
        wait for that result (or its error), so a partner is never decoded twice for one batch."""
        memo = self._memo
        if memo is None:
            return load()
        with self._lock:
            fut = memo.get(key)
            owner = fut is None
            if owner:
                fut = memo[key] = Future()
        if owner:
            try:
                fut.set_result(load())
            except Exception as e:  # ImageLoadError: every asker gets it
                fut.set_exception(e)
        return fut.result()

    def load_resized(self, i: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Loads record ``i`` (or a replacement) resized to long side ``imgsz``.

        Returns (index used, image (h, w, 3) uint8 — do not modify it, it may be cached —, boxes (n, 4) pixels of
        that image, labels (n,)).
        """
        for _ in range(self.max_retries):
            if self._failed[i]:
                i = self._random_ok_index()
                continue
            r = self.records[i]
            try:
                img = self._memoized(i, functools.partial(self.images.get, i))
            except ImageLoadError as e:
                if not self._failed[i]:  # another thread of the batch may have flagged it already
                    self._mark_failed(i, e)
                i = self._random_ok_index()
                continue
            boxes = r.boxes * np.array([img.shape[1] / r.width, img.shape[0] / r.height] * 2, np.float32)
            return i, img, boxes, r.labels
        raise NoUsableDataError(f"{self.max_retries} consecutive images failed to load; last: {self.records[i].file}")

    # ------------------------------------------------------------------------------------------- samples
    def _meta(self, i: int, **extra: Any) -> dict[str, Any]:
        r = self.records[i]
        return {
            "index": i,
            "image_id": r.image_id,
            "file": r.file,
            "orig_shape": (r.height, r.width),
            "boxes": torch.from_numpy(r.boxes),
            "labels": torch.from_numpy(r.labels),
            **extra,
        }

    def draw_partner(self, index: int) -> int:
        """A mosaic / mixup partner for sample ``index``: a uniform draw (from ``self.rng``) among the dataset
        indices of its window in the current epoch's order, ``index`` itself included."""
        window = self._windows(self.epoch, index)
        return int(window[int(self.rng.integers(len(window)))])

    def load_tile(self, i: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Tile training (``augment.tiles``): record ``i`` (or a replacement, as :meth:`load_resized`) decoded at
        its original resolution and cut to a random ``imgsz``-sized tile (:mod:`yolo12l.data.tiles`, drawn from
        ``self.rng``). Returns (index used, tile (h, w, 3) uint8, its boxes (n, 4) pixels, labels (n,))."""
        cfg = self.augment
        assert cfg is not None
        for _ in range(self.max_retries):
            if self._failed[i]:
                i = self._random_ok_index()
                continue
            r = self.records[i]
            key = ("original", i)
            try:
                img = self._memoized(key, functools.partial(read_image, r.file, max_pixels=self.max_pixels))
            except ImageLoadError as e:
                if not self._failed[i]:
                    self._mark_failed(i, e)
                i = self._random_ok_index()
                continue
            boxes = r.boxes * np.array([img.shape[1] / r.width, img.shape[0] / r.height] * 2, np.float32)
            window = random_tile(self.rng, img.shape[:2], boxes, self.imgsz, cfg.tile_empty)
            return (i, *crop_tile(img, boxes, r.labels, window, cfg))
        raise NoUsableDataError(f"{self.max_retries} consecutive images failed to load; last: {self.records[i].file}")

    def _geometry(self, i: int, mosaic: bool, r: random.Random) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        index = i
        load = self.load_tile if self.augment is not None and self.augment.tiles else self.load_resized
        i, img, boxes, labels = load(i)
        partners = [load(self.draw_partner(index))[1:] for _ in range(3)] if mosaic else None
        return (i, *self._augment.geometry(r, (img, boxes, labels), partners))

    def _train_item(self, index: int, out: torch.Tensor | None = None) -> dict[str, Any]:
        """Training sample ``index``; ``out``: a (3, imgsz, imgsz) uint8 tensor for its image (a batch row)."""
        r = self._seed_sample(index)
        cfg = self.augment
        assert cfg is not None
        mosaic_on = self.mosaic_enabled
        mosaic = mosaic_on and self.rng.random() < cfg.mosaic
        i, img, boxes, labels = self._geometry(index, mosaic, r)
        mixed = False
        if mosaic_on and cfg.mixup > 0 and self.rng.random() < cfg.mixup:
            img = self._augment.rgb(img)  # own copy: the next geometry call reuses its arrays
            _, img2, boxes2, labels2 = self._geometry(self.draw_partner(index), mosaic, r)
            img2 = self._augment.rgb(img2)
            img, boxes, labels = mixup((img, boxes, labels), (img2, boxes2, labels2), float(self.rng.beta(32.0, 32.0)))
            mixed = True
        img, boxes, labels = self._augment.color(r, (img, boxes, labels))
        self._count_sample()
        return {
            "image": _to_chw(img, out),
            "boxes": torch.from_numpy(boxes.reshape(-1, 4)),
            "labels": torch.from_numpy(labels.reshape(-1)),
            "meta": self._meta(i, mosaic=mosaic, mixup=mixed, ratio=None, pad=None),
        }

    # evaluation: letterbox to ``imgsz`` square; ``rect.RectEvalDataset`` overrides these two for rect batches.
    # ``keep_original``: the decoded original also goes to ``meta["original"]`` ((H, W, 3) uint8 RGB tensor), for
    # sliced evaluation (yolo12l.inference.slicing), which cuts slices of the original, not of the letterbox.
    keep_original: bool = False
    # Resize as Ultralytics 8.4 validates: bilinear (None: INTER_AREA when shrinking, as older versions did)
    eval_interpolation: int | None = cv2.INTER_LINEAR

    def eval_shape(self, i: int) -> tuple[int, int]:
        """(height, width) of evaluation sample ``i``."""
        return self.imgsz, self.imgsz

    def eval_letterbox(self, img: np.ndarray, i: int) -> tuple[np.ndarray, RatioPad]:
        """As Ultralytics validates: long side to ``imgsz`` (:func:`resize_long_side`), then centred padding to
        :meth:`eval_shape`; the ratio is the exact per-axis pair."""
        resized, ratio = resize_long_side(img, self.imgsz, self.eval_interpolation)
        out, placed = letterbox(resized, self.eval_shape(i), scaleup=False)
        return out, RatioPad(ratio, placed.pad)

    def _eval_meta(self, i: int, **extra: Any) -> dict[str, Any]:
        """:meth:`_meta` plus what only the metric uses: areas and crowd / difficult regions (original pixels)."""
        r = self.records[i]
        return self._meta(i, areas=torch.from_numpy(r.eval_areas()),
                          crowd_boxes=torch.from_numpy(r.crowd_boxes.reshape(-1, 4)),
                          crowd_labels=torch.from_numpy(r.crowd_labels), crowd_areas=torch.from_numpy(
                              r.eval_crowd_areas()), **extra)

    def read_original(self, i: int) -> np.ndarray:
        """Image ``i`` decoded at its own size (H, W, 3) uint8 RGB, for evaluation."""
        return read_image(self.records[i].file, max_pixels=self.max_pixels)

    def _eval_item(self, i: int) -> dict[str, Any]:
        r = self.records[i]
        try:
            img = self.read_original(i)
        except ImageLoadError as e:
            self._failed[i] = 1
            log.warning("%s: %s (evaluated as an empty grey image)", e.file, e.reason)
            h, w = self.eval_shape(i)
            meta = self._eval_meta(i, ratio=1.0, pad=(0.0, 0.0), load_failed=True)
            for key in ("boxes", "crowd_boxes"):
                meta[key] = torch.zeros((0, 4))
            for key in ("labels", "crowd_labels"):
                meta[key] = torch.zeros(0, dtype=torch.int64)
            meta["areas"], meta["crowd_areas"] = torch.zeros(0), torch.zeros(0)
            return {"image": torch.full((3, h, w), FILL, dtype=torch.uint8), "boxes": torch.zeros((0, 4)),
                    "labels": torch.zeros(0, dtype=torch.int64), "meta": meta}
        boxes = r.boxes
        if img.shape[:2] != (r.height, r.width):  # file changed since parsing: rescale boxes
            boxes = boxes * np.array([img.shape[1] / r.width, img.shape[0] / r.height] * 2, np.float32)
        lb, rp = self.eval_letterbox(img, i)
        original = {"original": torch.from_numpy(img)} if self.keep_original else {}
        return {
            "image": _to_chw(lb),
            "boxes": torch.from_numpy(boxes_to_letterbox(boxes, rp, img.shape[:2])),
            "labels": torch.from_numpy(r.labels),
            "meta": self._eval_meta(i, ratio=rp.ratio, pad=rp.pad, load_failed=False, **original),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._train_item(index) if self.augment is not None else self._eval_item(index)

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """The samples of ``indices`` (a batch, from torch's fetcher): each image of the call is decoded once and
        reused as a partner; every sample equals ``self[index]``. Their images are written straight into the rows of
        one (B, 3, imgsz, imgsz) tensor (in a worker in shared memory), which the collate then passes on uncopied."""
        if self.augment is None:
            return [self[int(i)] for i in indices]
        self._process_setup()
        self._state_view()  # per-process views and counters set up before any thread uses them
        rows = batch_tensor((len(indices), 3, self.imgsz, self.imgsz), torch.empty(0, dtype=torch.uint8))
        self._memo = {}
        try:
            if self._pool is None or len(indices) < 2:
                return [self._train_item(int(i), rows[k]) for k, i in enumerate(indices)]
            return list(self._pool.map(lambda k: self._train_item(int(indices[k]), rows[k]), range(len(indices))))
        finally:
            self._memo = None


class ImageFolderDataset(Dataset):
    """Unlabelled images (folder, glob or file list) letterboxed for prediction.

    ``auto=True`` pads only to a multiple of ``stride`` (images then differ in size: use batch_size=1).
    ``meta`` has image_id (running index), file, file_name (:func:`~yolo12l.data.images.unique_names`),
    orig_shape, ratio, pad, load_failed (and ``original``, the decoded image, with ``keep_original``).
    """

    keep_original: bool = False  # as DetectionDataset's: meta["original"] for sliced prediction

    def __init__(self, source: str | os.PathLike | list, imgsz: int = 640, auto: bool = False, stride: int = 32):
        srcs = source if isinstance(source, (list, tuple)) else [source]
        videos = [f for s in srcs for f in list_images(s, VIDEO_SUFFIXES) if f.suffix.lower() in VIDEO_SUFFIXES]
        self.files = [f for s in srcs for f in list_images(s) if f.suffix.lower() not in VIDEO_SUFFIXES]
        where = "the predict source" if isinstance(source, (list, tuple)) else str(source)
        hint = f"this form reads images; yolo12l predict --weights CKPT --source {where} reads videos too"
        if not self.files:
            raise NoUsableDataError(f"no images found in {where}" + (f" ({len(videos)} video(s): {hint})"
                                                                     if videos else ""))
        if videos:
            log.warning("%s: %d video(s) not predicted (%s), e.g. %s", where, len(videos), hint, videos[0])
        self.imgsz, self.auto, self.stride = imgsz, auto, stride
        self.names = unique_names(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        f = Path(self.files[i])
        try:
            img = read_image(f)
            failed = False
        except ImageLoadError as e:
            log.warning("%s: %s (predicted as an empty grey image)", e.file, e.reason)
            img, failed = np.full((self.imgsz, self.imgsz, 3), FILL, np.uint8), True
        lb, rp = letterbox(img, self.imgsz, auto=self.auto, stride=self.stride)
        meta = {"index": i, "image_id": i, "file": str(f), "file_name": self.names[i],
                "orig_shape": tuple(img.shape[:2]), "ratio": rp.ratio, "pad": rp.pad, "load_failed": failed,
                "boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}
        if self.keep_original:
            meta["original"] = torch.from_numpy(img)
        return {"image": _to_chw(lb), "boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
                "meta": meta}
