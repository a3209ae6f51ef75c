"""LightningDataModules for COCO JSON, Pascal VOC, YOLO txt and the built-in synthetic dataset.

All share :class:`DetectionDataModule` (image size, loader and augmentation settings). ``class_names``,
``num_classes`` and ``label_to_category_id`` are available right after ``__init__`` (cheap for VOC/YOLO;
COCO parses the training JSON once, then the annotation cache makes it fast), so LightningCLI can link them
to the model. Annotations are parsed and images header-checked once per split and cached (``cache.py``);
``setup`` logs one summary per split and raises :class:`NoUsableDataError` if a split has no usable image.

``close_mosaic``: the train loader's :class:`EpochSampler` reads ``trainer.current_epoch`` and
``trainer.max_epochs`` each epoch and writes them into the dataset's shared-memory state, which DataLoader
workers (persistent too) read per sample. Without a Trainer call :meth:`DetectionDataModule.set_epoch`.

Reproducibility: the training order of epoch ``e`` is a permutation seeded with ``dataset.seed + e`` and the
augmentation of each sample is seeded with ``(dataset.seed, e, index)``, where ``dataset.seed`` is torch's seed when
the DataModule is set up (the one ``seed_everything`` set). The train loader is a :class:`DeferredStartDataLoader`,
so a resumed run's first epoch draws its order after Lightning has restored the epoch. A resumed run therefore sees
the same batches as an uninterrupted one, with any number of workers.

Output category ids (``label_to_category_id``): COCO -> the JSON's category ids; VOC and YOLO -> ``0..nc-1``.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from ..config_checks import DATA_RULES, check_data_args
from ..errors import ConfigError
from .cache import AnnotationCache
from .coco import parse_coco
from .collate import collate_detections, collate_training
from .dataset import DetectionDataset, ImageFolderDataset
from .image_cache import resized_nbytes
from .images import MAX_PIXELS
from .loader import DeferredStartDataLoader
from .photometric import serialisable
from .rect import RectEvalDataset
from .records import NoUsableDataError, ParsedSplit
from .sampler import EpochSampler
from .synthetic import synthetic_dataset
from .synthetic_tiny import tiny_objects_dataset
from .transforms import AugmentConfig
from .verify import VerifyMode
from .voc import VOC_CLASSES, parse_voc, voc_sources
from .yolo_txt import load_data_yaml, parse_yolo, yolo_sources

log = logging.getLogger("yolo12l.data")
PathLike = str | os.PathLike


class DetectionDataModule(L.LightningDataModule):
    """Common loader/augmentation settings; subclasses implement :meth:`parse_split`.

    Args:
        imgsz: square training/evaluation size (multiple of 32).
        batch_size / val_batch_size: train and evaluation batch sizes (val defaults to batch_size).
        num_workers, pin_memory, persistent_workers: DataLoader settings (persistent only if workers > 0).
        worker_threads: threads each training worker makes its batch's samples in (None: ``$YOLO12L_WORKER_THREADS``
            or the usable CPUs // ``num_workers``; see ``worker_threads.py``); no sample depends on it.
        mosaic, mixup, close_mosaic, degrees, translate, scale, shear, hsv_h, hsv_s, hsv_v, fliplr,
        min_box_size, min_visibility: see :class:`AugmentConfig`.
        tiles: train on random ``imgsz x imgsz`` crops of the ORIGINAL images (not the whole image resized to
            ``imgsz``), composable with mosaic (every mosaic part is a tile) and the rest of the augmentation; for
            small objects on large images, validated with ``--slice imgsz`` (docs/small_objects.md).
            ``tile_empty``: the fraction of tiles drawn without an object (the others contain a random one).
        albumentations: your photometric albumentations transforms, run on the final training image (a list of
            ``A.to_dict`` dicts or ``{name, params}`` dicts, see ``photometric.py``; spatial ones are refused).
        albumentations_light: Ultralytics' optional light step (Blur, MedianBlur, ToGray, CLAHE at p 0.01) first.
        cache_dir: annotation cache folder (default ``~/.cache/yolo12l``); cache=False disables it.
        cache_images: training images decoded and resized once, ``"ram"`` (checked against the free memory) or
            ``"disk"`` (``.npy`` files under ``cache_dir/images``); None (default) decodes them per sample.
        image_buffer_mb: per-process memory (MiB) for recently decoded training images (0: off); used only when
            the whole training set's decoded images fit in it (small datasets are then decoded once per worker).
            See ``image_cache.py``; none of these change any sample.
        verify: image check at parse time, "header" (default), "full" (decode all) or "none".
        max_pixels: images with more pixels (decompression bombs) are skipped at parse time and never decoded
            (default 100 Mpx; None: only PIL's own ~179 Mpx limit).
        predict_source: folder / glob / file of images for ``predict_dataloader`` (videos: ``predict --weights``).
        rect_val: validate / test on rectangular batches as Ultralytics does (images sorted by aspect ratio, each
            batch letterboxed to its own stride-aligned shape, see ``rect.py``); False: every image letterboxed to
            ``imgsz`` square.
    """

    def __init__(
        self,
        imgsz: int = 640,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        worker_threads: int | None = None,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        mosaic: float = 1.0,
        mixup: float = 0.0,
        close_mosaic: int = 10,
        degrees: float = 0.0,
        translate: float = 0.1,
        scale: float = 0.5,
        shear: float = 0.0,
        hsv_h: float = 0.015,
        hsv_s: float = 0.7,
        hsv_v: float = 0.4,
        fliplr: float = 0.5,
        min_box_size: float = 2.0,
        min_visibility: float = 0.1,
        tiles: bool = False,
        tile_empty: float = 0.1,
        albumentations: list[dict[str, Any]] | dict[str, Any] | None = None,
        albumentations_light: bool = False,
        cache_dir: PathLike | None = None,
        cache: bool = True,
        cache_images: str | None = None,
        image_buffer_mb: float = 512,
        verify: VerifyMode = "header",
        predict_source: PathLike | None = None,
        rect_val: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        super().__init__()
        check_data_args({k: v for k, v in locals().items() if k in DATA_RULES}, prefix="")
        self.imgsz = imgsz
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.worker_threads = worker_threads
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.augment = AugmentConfig(
            mosaic=mosaic, mixup=mixup, close_mosaic=close_mosaic, degrees=degrees, translate=translate,
            scale=scale, shear=shear, hsv_h=hsv_h, hsv_s=hsv_s, hsv_v=hsv_v, fliplr=fliplr,
            min_box_size=min_box_size, min_visibility=min_visibility, tiles=tiles, tile_empty=tile_empty,
            albumentations=serialisable(albumentations), albumentations_light=albumentations_light,
        )
        self.cache = AnnotationCache(cache_dir, enabled=cache)
        self.cache_images = cache_images
        self.image_cache_dir = cache_dir
        self.image_buffer_mb = image_buffer_mb
        self.verify = verify
        self.max_pixels = max_pixels
        self.predict_source = predict_source
        self.rect_val = rect_val
        self._splits: dict[str, ParsedSplit | None] = {}
        self.datasets: dict[str, DetectionDataset | ImageFolderDataset] = {}

    # ------------------------------------------------------------------------------------ subclass hooks
    def parse_split(self, split: str) -> ParsedSplit | None:
        """Parsed ``"train"``, ``"val"`` or ``"test"`` split, or None when that split is not configured."""
        raise NotImplementedError

    def _class_info(self) -> tuple[list[str], list[int]]:
        """(class names, output category ids); default: from the first configured split."""
        for s in ("train", "val", "test"):
            p = self.split(s)
            if p is not None:
                return p.class_names, p.category_ids
        raise NoUsableDataError(f"{type(self).__name__}: no split configured")

    # ---------------------------------------------------------------------------------------- class info
    def split(self, name: str) -> ParsedSplit | None:
        """Parsed split (memoised; backed by the annotation cache)."""
        if name not in self._splits:
            self._splits[name] = self.parse_split(name)
        return self._splits[name]

    @functools.cached_property
    def _classes(self) -> tuple[list[str], list[int]]:
        return self._class_info()

    @property
    def class_names(self) -> list[str]:
        return list(self._classes[0])

    @property
    def num_classes(self) -> int:
        return len(self._classes[0])

    @property
    def label_to_category_id(self) -> list[int]:
        """``label_to_category_id[i]``: id to write in COCO-format predictions for class index ``i``."""
        return list(self._classes[1])

    @property
    def class_ids(self) -> list[int]:
        """Alias of :attr:`label_to_category_id`."""
        return self.label_to_category_id

    # -------------------------------------------------------------------------------------------- setup
    def _dataset(self, name: str, train: bool) -> DetectionDataset:
        parsed = self.split(name)
        if parsed is None:
            raise NoUsableDataError(f"{type(self).__name__}: no '{name}' split configured")
        rep = parsed.report
        log.info("%s: %s", name, parsed.scan_line())  # Ultralytics' "Scanning … N images, K backgrounds, …"
        if rep.problems:
            log.warning("%s split: %s", name, rep.summary(list_files=True))
        parsed.require_usable()
        if train:
            self.require_training_boxes()
        elif not rep.num_boxes:
            log.warning("%s: the %s split has no box at all: its mAP is undefined (-1)", rep.name or name, name)
        if not train and self.rect_val:
            ds = RectEvalDataset(parsed.records, self.imgsz, self.val_batch_size, report=rep,
                                 max_pixels=self.max_pixels)
            ds.keep_original = self.keep_originals
            return ds
        extra = {"cache_images": self.cache_images, "cache_dir": self.image_cache_dir,
                 "buffer_bytes": self._buffer_bytes(parsed.records), "mosaic_window": self.batch_size,
                 "cache_ranks": self._local_ranks(), "worker_threads": self.worker_threads} if train else {}
        ds = DetectionDataset(parsed.records, self.imgsz, self.augment if train else None, report=rep,
                              max_pixels=self.max_pixels, **extra)
        ds.keep_original = self.keep_originals and not train
        return ds

    def _buffer_bytes(self, records: list) -> int:
        """``image_buffer_mb`` in bytes when the training set's decoded images fit in it, else 0: on a larger set the
        buffer rarely hits (mosaic partners already come from the batch being decoded) and keeping every decoded
        image costs fresh memory per decode (3000 COCO-sized images: ~12 % more CPU per sample, measured)."""
        want = int(self.image_buffer_mb * 2**20)
        if want > 0:
            need = resized_nbytes([(r.width, r.height) for r in records], self.imgsz)
            if need > want:
                log.info("image_buffer_mb=%g: the %d training images need %.0f MiB decoded, more than the buffer: "
                         "decoding per sample (about one decode per sample from the mosaic windows)",
                         self.image_buffer_mb, len(records), need / 2**20)
                return 0
        return want

    def _local_ranks(self) -> int | None:
        """Training processes on this node (the trainer's devices under DDP), for the shared RAM image cache."""
        tr = self.trainer
        return int(tr.num_devices) if tr is not None and tr.world_size > 1 else None

    @property
    def keep_originals(self) -> bool:
        """Whether val / test / predict batches carry each decoded original image in ``meta["original"]`` (set by
        :class:`~yolo12l.training.YOLODetector` with ``slicing``: sliced evaluation cuts the original)."""
        return getattr(self, "_keep_originals", False)

    @keep_originals.setter
    def keep_originals(self, value: bool) -> None:
        self._keep_originals = bool(value)
        for name, ds in self.datasets.items():
            if name != "train":
                ds.keep_original = self._keep_originals

    def require_training_boxes(self) -> None:
        """Raises :class:`NoUsableDataError` when the training split has images but not one box: every loss would
        be a background loss and the run would "train" to zero box / dfl losses (the CLI checks this before
        ``fit`` builds anything; parsing is cached)."""
        parsed = self.split("train")
        if parsed is not None and parsed.records and not parsed.report.num_boxes:
            rep = parsed.report
            raise NoUsableDataError(f"the training split {rep.name or 'train'} has {rep.num_images} images but not "
                                    "one box (empty or missing 'annotations' / label files?): nothing to learn")

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and "train" not in self.datasets:
            self.datasets["train"] = self._dataset("train", train=True)
        if stage in (None, "fit", "validate") and "val" not in self.datasets and self.split("val") is not None:
            self.datasets["val"] = self._dataset("val", train=False)
        if stage in (None, "test") and "test" not in self.datasets and self.split("test") is not None:
            self.datasets["test"] = self._dataset("test", train=False)
        if stage in (None, "predict") and self.predict_source is not None and "predict" not in self.datasets:
            # Ultralytics' predict letterbox (pad to a multiple of 32, one image per batch): the same detections as
            # ``yolo12l predict --weights`` (yolo12l.inference)
            self.datasets["predict"] = ImageFolderDataset(self.predict_source, self.imgsz, auto=True)
            self.datasets["predict"].keep_original = self.keep_originals

    def set_epoch(self, epoch: int, total_epochs: int | None = None) -> None:
        """Tells the training dataset (and its workers) the epoch, for ``close_mosaic``."""
        if "train" in self.datasets:
            self.datasets["train"].set_epoch(epoch, total_epochs)  # type: ignore[union-attr]

    def _trainer_epoch(self) -> int | None:
        tr = self.trainer
        if tr is None:
            return None
        ds = self.datasets["train"]
        if tr.max_epochs is not None and tr.max_epochs > 0:
            ds.set_epoch(ds.epoch, tr.max_epochs)  # type: ignore[union-attr]
        return tr.current_epoch

    def _loader(self, ds, batch_size: int, sampler=None, deferred: bool = False,
                collate: Callable[[list], dict] = collate_detections) -> DataLoader:
        return (DeferredStartDataLoader if deferred else DataLoader)(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        if "train" not in self.datasets:
            self.setup("fit")
        ds = self.datasets["train"]
        return self._loader(ds, self.batch_size, EpochSampler(ds, shuffle=True, seed=ds.seed,
                                                         epoch_fn=self._trainer_epoch), deferred=True,
                            collate=functools.partial(collate_training, num_classes=self.num_classes))

    def val_dataloader(self) -> DataLoader | list:
        """The val loader, or ``[]`` (Lightning: no validation) when no val split is configured."""
        if "val" not in self.datasets:
            self.setup("validate")
        if "val" not in self.datasets:
            log.info("%s: no val split configured, validation skipped", type(self).__name__)
            return []
        return self._loader(self.datasets["val"], self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.datasets:
            self.setup("test")
        if "test" not in self.datasets:
            raise NoUsableDataError(self.no_test_split_message())
        return self._loader(self.datasets["test"], self.val_batch_size)

    TEST_SPLIT_HINT = "configure a test split"

    def no_test_split_message(self) -> str:
        """Why ``test`` cannot run: it evaluates the test split only (``validate`` evaluates the val split)."""
        return (f"{type(self).__name__} has no test split: {self.TEST_SPLIT_HINT}, or run `yolo12l validate` for the "
                "val split (test never falls back to val, so test/... numbers are always test-split numbers)")

    def predict_dataloader(self) -> DataLoader:
        if "predict" not in self.datasets:
            self.setup("predict")
        if "predict" not in self.datasets:
            raise NoUsableDataError("predict_dataloader needs predict_source")
        return self._loader(self.datasets["predict"], 1)  # images letterboxed to their own shapes

    def teardown(self, stage: str) -> None:
        for name, ds in self.datasets.items():
            if isinstance(ds, DetectionDataset):
                failed = ds.collect_load_failures()
                if failed:
                    log.warning("%s: %d image(s) failed to load during the run: %s", name, len(failed), failed)

    def summary(self, list_files: bool = True) -> str:
        """The issue summary of every configured split."""
        out = []
        for s in ("train", "val", "test"):
            p = self.split(s)
            if p is not None:
                out.append(f"[{s}] " + p.report.summary(list_files=list_files))
        return "\n".join(out)


class CocoDataModule(DetectionDataModule):
    """COCO ``instances_*.json`` + image folders. Classes come from the training JSON (its sorted category
    ids map to ``0..nc-1``; ``label_to_category_id`` maps back). ``test`` needs ``test_*`` (it never uses val)."""

    TEST_SPLIT_HINT = "set --data.init_args.test_annotations and test_images"

    def __init__(
        self,
        train_annotations: PathLike | None = None,
        train_images: PathLike | None = None,
        val_annotations: PathLike | None = None,
        val_images: PathLike | None = None,
        test_annotations: PathLike | None = None,
        test_images: PathLike | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.paths = {"train": (train_annotations, train_images), "val": (val_annotations, val_images),
                      "test": (test_annotations, test_images)}

    def parse_split(self, split: str) -> ParsedSplit | None:
        ann, imgs = self.paths[split]
        if ann is None:
            return None
        if imgs is None:
            raise ConfigError(f"{split}_annotations given without {split}_images")
        cats = None
        if split != "train" and self.paths["train"][0] is not None:
            t = self.split("train")
            cats = (t.class_names, t.category_ids)  # share the training class indices
        return self.cache.get_or_parse(
            "coco", [ann, imgs], {"images": str(imgs), "verify": self.verify, "cats": cats, "split": split,
                                  "max_pixels": self.max_pixels},
            lambda: parse_coco(ann, imgs, categories=cats, verify=self.verify, name=f"{Path(ann).name}",
                               max_pixels=self.max_pixels),
        )


class VOCDataModule(DetectionDataModule):
    """Pascal VOC. Either ``root`` (one ``VOCdevkit/VOC20xx`` folder) with ``train_split``/``val_split``/
    ``test_split`` names, or explicit ``train_sets``/``val_sets``/``test_sets`` lists of ``(root, split)`` to
    combine years. ``class_names`` defaults to the 20 VOC classes; ``keep_difficult`` keeps difficult boxes."""

    TEST_SPLIT_HINT = "set --data.init_args.test_split (e.g. test) or test_sets"

    def __init__(
        self,
        root: PathLike | None = None,
        train_split: str | None = "train",
        val_split: str | None = "val",
        test_split: str | None = None,
        train_sets: Sequence[tuple[str, str]] | None = None,
        val_sets: Sequence[tuple[str, str]] | None = None,
        test_sets: Sequence[tuple[str, str]] | None = None,
        class_names: Sequence[str] | None = None,
        keep_difficult: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

        def sets(explicit, split):
            if explicit is not None:
                return [(str(r), s) for r, s in explicit]
            return [(str(root), split)] if root is not None and split else None

        self.sets = {"train": sets(train_sets, train_split), "val": sets(val_sets, val_split),
                     "test": sets(test_sets, test_split)}
        self._names = list(class_names) if class_names is not None else list(VOC_CLASSES)
        self.keep_difficult = keep_difficult

    def _class_info(self) -> tuple[list[str], list[int]]:
        return self._names, list(range(len(self._names)))

    def parse_split(self, split: str) -> ParsedSplit | None:
        sets = self.sets[split]
        if not sets:
            return None
        return self.cache.get_or_parse(
            "voc", voc_sources(sets),
            {"sets": sets, "names": self._names, "difficult": self.keep_difficult, "verify": self.verify,
             "max_pixels": self.max_pixels},
            lambda: parse_voc(sets, self._names, keep_difficult=self.keep_difficult, verify=self.verify,
                              max_pixels=self.max_pixels),
        )


class YoloDataModule(DetectionDataModule):
    """YOLO txt dataset described by an Ultralytics dataset YAML (``path``, ``train``, ``val``, ``test``,
    ``names``); class names come from the YAML."""

    TEST_SPLIT_HINT = "add a 'test:' entry to the dataset YAML"

    def __init__(self, data_yaml: PathLike, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_yaml = Path(data_yaml)
        self._data = load_data_yaml(self.data_yaml)

    def _class_info(self) -> tuple[list[str], list[int]]:
        names = self._data["names"]
        return names, list(range(len(names)))

    def parse_split(self, split: str) -> ParsedSplit | None:
        if not self._data.get(split):
            return None
        return self.cache.get_or_parse(
            "yolo", yolo_sources(self.data_yaml, split), {"split": split, "verify": self.verify,
                                                          "max_pixels": self.max_pixels},
            lambda: parse_yolo(self._data, split, verify=self.verify, max_pixels=self.max_pixels),
        )


class SyntheticDataModule(CocoDataModule):
    """The built-in shapes dataset (see ``synthetic.py``), generated once under ``cache_dir`` and read
    through the COCO path. Classes: circle, square, triangle, star, cross (category ids 1..5).
    ``predict_source`` defaults to the generated validation images."""

    def __init__(
        self,
        num_train: int = 64,
        num_val: int = 16,
        imgsz: int = 256,
        seed: int = 0,
        cache_dir: PathLike | None = None,
        size_range: tuple[int, int] = (160, 320),
        max_objects: int = 6,
        **kwargs,
    ) -> None:
        check_data_args({k: v for k, v in locals().items() if k in DATA_RULES}, prefix="")
        paths = synthetic_dataset(num_train, num_val, seed, tuple(size_range), max_objects, cache_dir)
        kwargs.setdefault("predict_source", None)
        if kwargs["predict_source"] is None:  # the demo predicts on the validation images
            kwargs["predict_source"] = paths.val_images
        super().__init__(paths.train_annotations, paths.train_images, paths.val_annotations, paths.val_images,
                         imgsz=imgsz, cache_dir=cache_dir, **kwargs)
        self.synthetic_paths = paths


class TinyObjectsDataModule(CocoDataModule):
    """The built-in "large images, tiny objects" set (see ``synthetic_tiny.py``: by default 1600 x 1600 images with
    8-48 px circles, squares and triangles), generated once under ``cache_dir`` and read through the COCO path.
    ``predict_source`` defaults to the generated validation images."""

    def __init__(
        self,
        num_train: int = 24,
        num_val: int = 8,
        imgsz: int = 640,
        seed: int = 0,
        cache_dir: PathLike | None = None,
        image_size: tuple[int, int] = (1600, 1600),
        object_size: tuple[float, float] = (8.0, 48.0),
        num_objects: tuple[int, int] = (10, 60),
        **kwargs,
    ) -> None:
        check_data_args({"imgsz": imgsz, "num_train": num_train, "num_val": num_val}, prefix="")
        try:
            paths = tiny_objects_dataset(num_train, num_val, seed, tuple(image_size), tuple(object_size),
                                         tuple(num_objects), cache_dir)
        except ValueError as err:
            raise ConfigError(str(err)) from err
        kwargs.setdefault("predict_source", None)
        if kwargs["predict_source"] is None:
            kwargs["predict_source"] = paths.val_images
        super().__init__(paths.train_annotations, paths.train_images, paths.val_annotations, paths.val_images,
                         imgsz=imgsz, cache_dir=cache_dir, **kwargs)
        self.synthetic_paths = paths


__all__ = ["DetectionDataModule", "CocoDataModule", "VOCDataModule", "YoloDataModule", "SyntheticDataModule",
           "TinyObjectsDataModule"]
