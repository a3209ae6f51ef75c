"""Detection data: readers (COCO JSON, Pascal VOC, YOLO txt, synthetic shapes), YOLO augmentation,
letterbox, batching and LightningDataModules. See ``datamodule.py`` for the entry points."""
from .cache import AnnotationCache
from .coco import parse_coco
from .collate import collate_detections, targets_to_loss_dict
from .datamodule import CocoDataModule, DetectionDataModule, SyntheticDataModule, VOCDataModule, YoloDataModule
from .dataset import DetectionDataset, ImageFolderDataset
from .images import ImageLoadError, probe_image, read_image
from .letterbox import RatioPad, boxes_to_letterbox, letterbox, scale_boxes
from .records import DatasetReport, ImageRecord, IssueKind, NoUsableDataError, ParsedSplit
from .sampler import EpochSampler
from .synthetic import SHAPE_CLASSES, synthetic_dataset
from .transforms import AugmentConfig, RandomHSV
from .mosaic import YoloMosaic
from .affine import YoloAffine
from .visualize import draw_boxes, plot_batch
from .voc import VOC_CLASSES, parse_voc
from .yolo_txt import load_data_yaml, parse_yolo

__all__ = [
    "AnnotationCache", "AugmentConfig", "CocoDataModule", "DatasetReport", "DetectionDataModule",
    "DetectionDataset", "EpochSampler", "ImageFolderDataset", "ImageLoadError", "ImageRecord", "IssueKind",
    "NoUsableDataError", "ParsedSplit", "RandomHSV", "RatioPad", "SHAPE_CLASSES", "SyntheticDataModule",
    "VOCDataModule", "VOC_CLASSES", "YoloAffine", "YoloDataModule", "YoloMosaic", "boxes_to_letterbox", "collate_detections",
    "draw_boxes", "letterbox", "load_data_yaml", "parse_coco", "parse_voc", "parse_yolo", "plot_batch",
    "probe_image", "read_image", "scale_boxes", "synthetic_dataset", "targets_to_loss_dict",
]
