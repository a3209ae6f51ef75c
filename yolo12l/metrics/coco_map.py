"""COCO box mAP as a torchmetrics ``Metric``, evaluated by pycocotools (or faster-coco-eval).

The accumulated targets become an in-memory COCO ground-truth dict (category id = label + 1, annotation ids from 1,
``iscrowd`` and ``area`` as given) and the predictions a COCO result list, then the official ``COCOeval`` (bbox,
IoU 0.50:0.95, at most 100 detections per image by score) runs on them. See
:mod:`yolo12l.metrics.detection_state` for the update format, DDP gathering and de-duplication by ``image_id``.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from torch import Tensor

from yolo12l.metrics.detection_state import DetectionData, DetectionMetric
from yolo12l.ops.coco_result import coco_result

BACKENDS = ("pycocotools", "faster_coco_eval")

# summary keys in COCOeval.stats order (bbox)
_STAT_KEYS = ("mAP50-95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "mAR1", "mAR10", "mAR100")


class COCOMeanAveragePrecision(DetectionMetric):
    """COCO mAP@[.5:.95] of boxes.

    Args:
        num_classes: classes are ``0..num_classes-1``; fixes the length of the per-class outputs (else: max label + 1
            over ground truth and predictions).
        backend: ``"pycocotools"`` or ``"faster_coco_eval"`` (same numbers, faster C++ evaluation).
        verbose: print the COCO summary table (otherwise the evaluators' prints are silenced).

    ``compute()`` returns a dict of tensors:

    * ``mAP50-95``, ``mAP50``, ``mAP75``, ``mAP_small``, ``mAP_medium``, ``mAP_large``, ``mAR1``, ``mAR10``,
      ``mAR100``: COCO summary numbers (``-1`` when undefined, e.g. no ground truth at all, as pycocotools);
    * ``per_class_ap`` (C,) AP@[.5:.95] and ``per_class_ap50`` (C,) AP@.5, index = label, ``-1`` for classes with no
      (non-crowd) ground truth (they are left out of the means);
    * ``num_images``: distinct image ids evaluated; ``num_duplicates``: extra copies dropped (DDP padding).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        backend: str = "pycocotools",
        verbose: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes=num_classes, **kwargs)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "faster_coco_eval":
            try:
                import faster_coco_eval  # noqa: F401
            except ImportError as err:
                raise ImportError("backend='faster_coco_eval' needs `pip install faster-coco-eval`") from err
        self.backend = backend
        self.verbose = verbose

    def compute(self) -> dict[str, Tensor]:
        return coco_evaluate(self.data(), num_classes=self.num_classes, backend=self.backend, verbose=self.verbose)


def coco_evaluate(
    data: DetectionData,
    num_classes: int | None = None,
    backend: str = "pycocotools",
    verbose: bool = False,
) -> dict[str, Tensor]:
    """COCO evaluation of :class:`DetectionData`; returns the dict described in :class:`COCOMeanAveragePrecision`."""
    labels = data.labels(num_classes)
    size = num_classes if num_classes is not None else (max(labels) + 1 if labels else 0)
    result = {k: torch.tensor(-1.0, dtype=torch.float64) for k in _STAT_KEYS}
    result["per_class_ap"] = torch.full((size,), -1.0, dtype=torch.float64)
    result["per_class_ap50"] = torch.full((size,), -1.0, dtype=torch.float64)
    result["num_images"] = torch.tensor(data.num_images)
    result["num_duplicates"] = torch.tensor(data.num_duplicates)
    if data.num_images == 0 or not labels:
        return result

    gt, dets = to_coco(data, labels)
    out = io.StringIO()
    with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(out):
        stats, precision, cat_ids = _run_cocoeval(gt, dets, backend, verbose)
    for key, value in zip(_STAT_KEYS, stats):
        result[key] = torch.tensor(float(value), dtype=torch.float64)
    for k, cat_id in enumerate(cat_ids):
        result["per_class_ap"][cat_id - 1] = _mean_valid(precision[:, :, k, 0, -1])
        result["per_class_ap50"][cat_id - 1] = _mean_valid(precision[0, :, k, 0, -1])
    return result


def to_coco(data: DetectionData, labels: list[int]) -> tuple[dict, list[dict]]:
    """(COCO ground-truth dict, COCO result list) with category id = label + 1 and xywh boxes."""
    images = []
    for image_id, (h, w) in zip(data.image_ids.tolist(), data.image_shapes.tolist()):
        img = {"id": image_id}
        if h > 0 and w > 0:
            img.update(height=h, width=w)
        images.append(img)
    ids = data.image_ids
    gt_xywh = _xywh(data.gt_boxes).tolist()
    annotations = [
        {"id": k + 1, "image_id": int(ids[i]), "category_id": int(c) + 1, "bbox": b, "area": float(a),
         "iscrowd": int(crowd)}
        for k, (i, c, b, a, crowd) in enumerate(zip(data.gt_image, data.gt_labels, gt_xywh, data.gt_area,
                                                    data.gt_iscrowd))
    ]
    gt = {"images": images, "annotations": annotations, "categories": [{"id": c + 1, "name": str(c)} for c in labels]}
    dets = [
        {"image_id": int(ids[i]), "category_id": int(c) + 1, "bbox": b, "score": float(s)}
        for i, c, b, s in zip(data.det_image, data.det_labels, _xywh(data.det_boxes).tolist(), data.det_scores)
    ]
    return gt, dets


def coco_results(data: DetectionData, category_ids: list[int] | None = None) -> list[dict]:
    """Every detection of ``data`` as a :func:`coco_result` entry (``image_id`` the dataset's), ordered by image id,
    then decreasing score."""
    order = np.lexsort((-data.det_scores, data.image_ids[data.det_image])) if len(data.det_scores) else []
    ids = data.image_ids
    return [coco_result(int(ids[data.det_image[k]]), data.det_boxes[k], data.det_scores[k], int(data.det_labels[k]),
                        category_ids) for k in order]


def _run_cocoeval(gt: dict, dets: list[dict], backend: str, verbose: bool) -> tuple[np.ndarray, np.ndarray, list]:
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster

        printer = print if verbose else (lambda *a, **k: None)
        coco_gt = COCO(gt, print_function=printer)
        coco_dt = coco_gt.loadRes(dets)
        evaluator = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=printer)
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if dets:
            coco_dt = coco_gt.loadRes(dets)
        else:  # pycocotools' loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": gt["categories"]}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
    evaluator.params.imgIds = sorted(img["id"] for img in gt["images"])
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return np.asarray(evaluator.stats[: len(_STAT_KEYS)]), evaluator.eval["precision"], list(evaluator.params.catIds)


def _mean_valid(precision: np.ndarray) -> float:
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else -1.0


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate((boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]), 1) if len(boxes) else np.zeros((0, 4))
