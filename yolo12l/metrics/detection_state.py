"""Accumulated detections and ground truth for detection metrics, DDP-safe and de-duplicated by image id.

Input convention (shared by every metric here), one dict per image:

* prediction: ``boxes`` (N, 4) xyxy in original-image pixels, ``scores`` (N,), ``labels`` (N,) integer class
  (contiguous 0..nc-1; float tensors holding integers are accepted);
* target: ``boxes`` (M, 4) xyxy, ``labels`` (M,), ``image_id`` (int), optional ``iscrowd`` (M,) (crowd / "difficult"
  boxes: matching them is neither a hit nor a miss), ``area`` (M,) (COCO object area, used for the small / medium /
  large split; default box area), ``orig_shape`` (height, width).

State layout: flat ``cat`` list states so that torchmetrics' DDP gather works with unequal sizes per rank:

* ``img_info``  int64 rows ``[entry, image_id, height, width]`` (one per image given to ``update``),
* ``det_meta`` int64 ``[entry, label]`` + ``det_vals`` float ``[x1, y1, x2, y2, score]``,
* ``gt_meta``  int64 ``[entry, label, iscrowd]`` + ``gt_vals`` float ``[x1, y1, x2, y2, area]``,

where ``entry`` is a random 62-bit id drawn per image and ``update`` call, tying each row to one copy of one image.
``DistributedSampler`` pads the last batches with repeated images, so after gathering an ``image_id`` may appear
several times: evaluation keeps exactly one copy per ``image_id`` (the one with the smallest entry; copies are
expected to be identical) and reports how many copies were dropped. Copies whose ground truth differs (two different
images given the same id) trigger a warning.
"""
from __future__ import annotations

import functools
import secrets
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

_STATE_WIDTHS = {"img_info": 4, "det_meta": 2, "det_vals": 5, "gt_meta": 3, "gt_vals": 5}


@dataclass
class DetectionData:
    """De-duplicated evaluation data as numpy arrays; ``*_image`` columns index ``image_ids``."""

    image_ids: np.ndarray  # (I,) int64, ascending
    image_shapes: np.ndarray  # (I, 2) int64 (height, width), -1 where unknown
    det_image: np.ndarray  # (N,) int64
    det_boxes: np.ndarray  # (N, 4) float64 xyxy
    det_scores: np.ndarray  # (N,) float64
    det_labels: np.ndarray  # (N,) int64
    gt_image: np.ndarray  # (M,) int64
    gt_boxes: np.ndarray  # (M, 4) float64 xyxy
    gt_labels: np.ndarray  # (M,) int64
    gt_iscrowd: np.ndarray  # (M,) bool
    gt_area: np.ndarray  # (M,) float64
    num_duplicates: int = 0

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def labels(self, num_classes: int | None = None) -> list[int]:
        """Classes to evaluate: ``range(num_classes)`` if given, else every label in ground truth or predictions."""
        if num_classes is not None:
            return list(range(num_classes))
        return sorted(set(np.unique(self.gt_labels).tolist()) | set(np.unique(self.det_labels).tolist()))

    @classmethod
    def from_lists(cls, preds: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]]) -> DetectionData:
        """Build directly from ``update``-style lists (no metric object)."""
        rows = image_rows(preds, targets, torch.device("cpu"), torch.float64)
        return cls.from_states(rows)

    @classmethod
    def from_states(cls, states: dict[str, Tensor | list[Tensor]]) -> DetectionData:
        """From (possibly gathered) metric states; keeps one copy per image id."""
        arr = {}
        for name, width in _STATE_WIDTHS.items():
            value = states[name]
            t = dim_zero_cat(value) if isinstance(value, list) and value else value
            if isinstance(t, list):  # never updated
                t = torch.zeros(0)
            np_dtype = np.int64 if name.endswith(("info", "meta")) else np.float64
            arr[name] = t.detach().cpu().numpy().astype(np_dtype, copy=False).reshape(-1, width)

        info = arr["img_info"]
        order = np.lexsort((info[:, 0], info[:, 1]))  # by image id, then entry
        info = info[order]
        first = np.ones(len(info), dtype=bool)
        first[1:] = info[1:, 1] != info[:-1, 1]
        kept = info[first]
        _warn_on_inconsistent_copies(info, first, arr["gt_meta"], arr["gt_vals"])

        entry_order = np.argsort(kept[:, 0])
        kept_entries = kept[entry_order, 0]

        def image_index(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.searchsorted(kept_entries, entries).clip(max=max(len(kept_entries) - 1, 0))
            valid = kept_entries[pos] == entries if len(kept_entries) else np.zeros(len(entries), dtype=bool)
            return entry_order[pos[valid]], valid

        det_image, det_ok = image_index(arr["det_meta"][:, 0])
        gt_image, gt_ok = image_index(arr["gt_meta"][:, 0])
        det_vals, gt_vals, gt_meta = arr["det_vals"][det_ok], arr["gt_vals"][gt_ok], arr["gt_meta"][gt_ok]
        gt_boxes = gt_vals[:, :4]
        area = gt_vals[:, 4].copy()
        missing = area < 0
        area[missing] = _box_area(gt_boxes[missing])
        return cls(
            image_ids=kept[:, 1].copy(),
            image_shapes=kept[:, 2:4].copy(),
            det_image=det_image,
            det_boxes=det_vals[:, :4],
            det_scores=det_vals[:, 4],
            det_labels=arr["det_meta"][det_ok, 1],
            gt_image=gt_image,
            gt_boxes=gt_boxes,
            gt_labels=gt_meta[:, 1],
            gt_iscrowd=gt_meta[:, 2].astype(bool),
            gt_area=area,
            num_duplicates=int(len(info) - len(kept)),
        )


class DetectionMetric(Metric):
    """Base for detection metrics: accumulates ``update(preds, targets)`` (see module docstring) in DDP-safe states.

    Subclasses implement ``compute`` from :meth:`data`. Every rank must call ``update`` at least once before a
    distributed ``compute`` (true with ``DistributedSampler``, which gives each rank the same number of samples).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        for name in _STATE_WIDTHS:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, preds: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]]) -> None:
        """Add one batch: ``preds[i]`` and ``targets[i]`` describe the same image."""
        rows = image_rows(preds, targets, self.device, self._float_dtype(), self.num_classes)
        for name, value in rows.items():
            getattr(self, name).append(value)

    def data(self) -> DetectionData:
        """The de-duplicated accumulated data (of all ranks while synced, e.g. inside ``compute``)."""
        return DetectionData.from_states({name: getattr(self, name) for name in _STATE_WIDTHS})

    def synced_data(self) -> DetectionData:
        """:meth:`data` of all ranks (a collective under DDP: every rank must call it), the states left unsynced."""
        with self.sync_context(should_unsync=True):
            return self.data()

    def _wrap_compute(self, compute: Callable) -> Callable:
        wrapped = super()._wrap_compute(compute)

        @functools.wraps(wrapped)
        def keep_per_class_1d(*args: Any, **kwargs: Any) -> Any:
            # torchmetrics squeezes one-element outputs to 0-d; per-class vectors must stay (C,) even when C == 1
            out = wrapped(*args, **kwargs)
            if isinstance(out, dict):
                out = {k: v.reshape(-1) if k.startswith("per_class") and isinstance(v, Tensor) else v
                       for k, v in out.items()}
            return out

        return keep_per_class_1d

    def _float_dtype(self) -> torch.dtype:
        return self.dtype if self.dtype == torch.float64 else torch.float32


def image_rows(
    preds: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    device: torch.device,
    float_dtype: torch.dtype,
    num_classes: int | None = None,
) -> dict[str, Tensor]:
    """Validate one batch and flatten it into the state rows described in the module docstring."""
    if not isinstance(preds, Sequence) or not isinstance(targets, Sequence):
        raise TypeError("preds and targets must be lists of dicts (one per image)")
    if len(preds) != len(targets):
        raise ValueError(f"got {len(preds)} predictions but {len(targets)} targets: need one of each per image")
    parts: dict[str, list[Tensor]] = {name: [] for name in _STATE_WIDTHS}
    dropped_det = dropped_gt = degenerate_gt = 0
    for i, (p, t) in enumerate(zip(preds, targets)):
        for key, d, what in (("boxes", p, "prediction"), ("scores", p, "prediction"), ("labels", p, "prediction"),
                             ("boxes", t, "target"), ("labels", t, "target"), ("image_id", t, "target")):
            if key not in d:
                raise KeyError(f"{what} {i} has no '{key}' (keys: {sorted(d)})")
        image_id = _as_int(t["image_id"], f"target {i} image_id")
        entry = secrets.randbits(62)

        boxes = _boxes(p["boxes"], device, f"prediction {i}")
        scores = torch.as_tensor(p["scores"], device=device).reshape(-1).to(torch.float64)
        labels = _labels(p["labels"], device, f"prediction {i}", num_classes)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f"prediction {i}: boxes {len(boxes)}, scores {len(scores)}, labels {len(labels)} differ")
        ok = torch.isfinite(boxes).all(1) & torch.isfinite(scores)
        dropped_det += int((~ok).sum())
        boxes, scores, labels = boxes[ok], scores[ok], labels[ok]
        parts["det_meta"].append(torch.stack((torch.full_like(labels, entry), labels), 1))
        parts["det_vals"].append(torch.cat((boxes, scores[:, None]), 1).to(float_dtype))

        gboxes = _boxes(t["boxes"], device, f"target {i}")
        glabels = _labels(t["labels"], device, f"target {i}", num_classes)
        m = len(gboxes)
        crowd = torch.as_tensor(t.get("iscrowd", torch.zeros(m)), device=device).reshape(-1).to(torch.int64)
        area = torch.as_tensor(t.get("area", torch.full((m,), -1.0)), device=device).reshape(-1).to(torch.float64)
        if not len(glabels) == len(crowd) == len(area) == m:
            raise ValueError(f"target {i}: boxes {m}, labels {len(glabels)}, iscrowd {len(crowd)}, area {len(area)}")
        ok = torch.isfinite(gboxes).all(1) & torch.isfinite(area)
        dropped_gt += int((~ok).sum())
        gboxes, glabels, crowd, area = gboxes[ok], glabels[ok], crowd[ok], area[ok]
        degenerate_gt += int(((gboxes[:, 2] < gboxes[:, 0]) | (gboxes[:, 3] < gboxes[:, 1])).sum())
        parts["gt_meta"].append(torch.stack((torch.full_like(glabels, entry), glabels, (crowd != 0).long()), 1))
        parts["gt_vals"].append(torch.cat((gboxes, area[:, None]), 1).to(float_dtype))

        h, w = _orig_shape(t.get("orig_shape"), f"target {i}")
        parts["img_info"].append(torch.tensor([[entry, image_id, h, w]], dtype=torch.int64, device=device))
    if dropped_det:
        warnings.warn(f"dropped {dropped_det} predictions with non-finite boxes or scores", stacklevel=3)
    if dropped_gt:
        warnings.warn(f"dropped {dropped_gt} ground-truth boxes with non-finite values", stacklevel=3)
    if degenerate_gt:
        warnings.warn(f"{degenerate_gt} ground-truth boxes have x2 < x1 or y2 < y1", stacklevel=3)
    out = {}
    for name, width in _STATE_WIDTHS.items():
        dtype = torch.int64 if name.endswith(("info", "meta")) else float_dtype
        out[name] = torch.cat(parts[name]).reshape(-1) if parts[name] else torch.zeros(0, dtype=dtype, device=device)
    return out


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what} must be a single integer, got shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _boxes(value: Any, device: torch.device, what: str) -> Tensor:
    boxes = torch.as_tensor(value, device=device).to(torch.float64)
    if boxes.numel() == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what}: boxes must be (N, 4) xyxy, got {tuple(boxes.shape)}")
    return boxes


def _labels(value: Any, device: torch.device, what: str, num_classes: int | None) -> Tensor:
    labels = torch.as_tensor(value, device=device).reshape(-1)
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise ValueError(f"{what}: labels must be integers, got {labels.tolist()[:5]}...")
    labels = labels.to(torch.int64)
    if len(labels) and (int(labels.min()) < 0 or (num_classes is not None and int(labels.max()) >= num_classes)):
        raise ValueError(f"{what}: labels must be in [0, {num_classes}), got min {int(labels.min())} "
                         f"max {int(labels.max())}")
    return labels


def _orig_shape(value: Any, what: str) -> tuple[int, int]:
    if value is None:
        return -1, -1
    shape = [int(v) for v in (value.tolist() if isinstance(value, Tensor) else value)]
    if len(shape) < 2:
        raise ValueError(f"{what}: orig_shape must be (height, width), got {value!r}")
    return shape[0], shape[1]


def _box_area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _warn_on_inconsistent_copies(info: np.ndarray, first: np.ndarray, gt_meta: np.ndarray, gt_vals: np.ndarray) -> None:
    """Warn when copies of one image id (rows of ``info`` sorted by id) carry different ground truth."""
    if first.all():
        return
    # per-entry signature: count, label sum and coordinate sum of its ground truth
    entries, inv = np.unique(gt_meta[:, 0], return_inverse=True)
    sig = np.zeros((len(entries), 3))
    np.add.at(sig, inv, np.stack((np.ones(len(inv)), gt_meta[:, 1], gt_vals[:, :4].sum(1)), 1))
    pos = np.searchsorted(entries, info[:, 0]).clip(max=max(len(entries) - 1, 0))
    has = entries[pos] == info[:, 0] if len(entries) else np.zeros(len(info), dtype=bool)
    row_sig = np.where(has[:, None], sig[pos] if len(entries) else 0.0, 0.0)
    group = np.cumsum(first) - 1
    ref = row_sig[first][group]
    bad = ~np.isclose(row_sig, ref, rtol=1e-6, atol=1e-6).all(1)
    if bad.any():
        ids = np.unique(info[bad, 1])
        warnings.warn(f"{len(ids)} image ids were given several times with different ground truth (e.g. "
                      f"{ids[:5].tolist()}); only one copy of each is evaluated", stacklevel=4)
