"""Detection data: readers (COCO JSON, Pascal VOC, YOLO txt, synthetic shapes), YOLO augmentation,
letterbox, batching and LightningDataModules. See ``datamodule.py`` for the entry points."""
from __future__ import annotations

import importlib
from typing import Any

from .letterbox import RatioPad, boxes_to_letterbox, letterbox, scale_boxes  # (the function shadows its module)

# The other names are imported on first use (PEP 562), so that ``import yolo12l.data.letterbox`` (prediction) does
# not pull in Lightning, albumentations and the dataset readers.
_LAZY = {
    "AnnotationCache": "cache",
    "parse_coco": "coco",
    "collate_detections": "collate",
    "targets_to_loss_dict": "collate",
    "collate_training": "collate",
    "with_loss_targets": "collate",
    "CocoDataModule": "datamodule",
    "DetectionDataModule": "datamodule",
    "SyntheticDataModule": "datamodule",
    "TinyObjectsDataModule": "datamodule",
    "VOCDataModule": "datamodule",
    "YoloDataModule": "datamodule",
    "DetectionDataset": "dataset",
    "ImageFolderDataset": "dataset",
    "ImageLoadError": "images",
    "probe_image": "images",
    "read_image": "images",
    "DatasetReport": "records",
    "ImageRecord": "records",
    "IssueKind": "records",
    "NoUsableDataError": "records",
    "ParsedSplit": "records",
    "EpochSampler": "sampler",
    "StreamingDataModule": "streaming",
    "write_shards": "optimize",
    "SHAPE_CLASSES": "synthetic",
    "synthetic_dataset": "synthetic",
    "TINY_CLASSES": "synthetic_tiny",
    "tiny_objects_dataset": "synthetic_tiny",
    "AugmentConfig": "transforms",
    "build_photometric": "photometric",
    "draw_boxes": "visualize",
    "plot_batch": "visualize",
    "VOC_CLASSES": "voc",
    "parse_voc": "voc",
    "load_data_yaml": "yolo_txt",
    "parse_yolo": "yolo_txt",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "AnnotationCache", "AugmentConfig", "CocoDataModule", "DatasetReport", "DetectionDataModule",
    "DetectionDataset", "EpochSampler", "ImageFolderDataset", "ImageLoadError", "ImageRecord", "IssueKind",
    "NoUsableDataError", "ParsedSplit", "RatioPad", "SHAPE_CLASSES", "StreamingDataModule", "SyntheticDataModule",
    "TINY_CLASSES",
    "TinyObjectsDataModule", "tiny_objects_dataset",
    "VOCDataModule", "VOC_CLASSES", "YoloDataModule", "boxes_to_letterbox", "build_photometric", "collate_detections",
    "collate_training",
    "draw_boxes", "letterbox", "load_data_yaml", "parse_coco", "parse_voc", "parse_yolo", "plot_batch",
    "probe_image", "read_image", "scale_boxes", "synthetic_dataset", "targets_to_loss_dict",
    "with_loss_targets", "write_shards",
]
