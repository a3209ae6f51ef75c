"""Batch layout.

``collate_detections`` turns samples into::

    {"images":  uint8 (B, 3, H, W) RGB (normalise on the device: images.float() / 255),
     "targets": float32 (N, 6) rows (batch_idx, cls, cx, cy, w, h), box normalised to the (H, W) input,
     "meta":    list of B dicts: image_id, file, orig_shape (h, w), ratio, pad (left, top),
                boxes (n, 4) xyxy in original pixels, labels (n,), index, ... }

For evaluation samples ``ratio``/``pad`` map predictions back with ``letterbox.scale_boxes``; for training
samples (mosaic/affine) they are None. ``targets_to_loss_dict`` gives the loss its
``{"batch_idx": (N,), "cls": (N, 1), "bboxes": (N, 4)}`` view (float, like Ultralytics); ``collate_training``
(the train loaders') adds ``loss_targets``, the same targets padded per image for the loss.
"""
from __future__ import annotations

from typing import Any

import torch

from ..losses.targets import pad_targets


def xyxy_to_cxcywh_norm(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(n, 4) xyxy pixels -> (n, 4) cx, cy, w, h normalised by the image size."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height), -1)


class MetaList(list):
    """A batch's ``meta``: the list of per-image dicts, pickled by value (tensors as numpy arrays, rebuilt as tensors).

    Why: a DataLoader worker sends a batch through torch's pickler, which moves every tensor into its own
    shared-memory segment and passes a file descriptor for it; for the small meta tensors (2 per training image, 6 per
    evaluation image) that cost ~7 ms of main-process CPU per batch of 16 training samples (measured on COCO128; the
    batch's images and targets, 2 tensors, stay in shared memory). Unpickled, it is the same list of dicts of tensors.
    """

    def __reduce__(self):
        return _rebuild_meta, ([[(k, *_by_value(v)) for k, v in m.items()] if isinstance(m, dict) else (None, m)
                                for m in self],)


def _by_value(v: Any) -> tuple[bool, Any]:
    if isinstance(v, torch.Tensor) and v.device.type == "cpu" and not v.requires_grad:
        return True, v.numpy()
    return False, v


def _rebuild_meta(items: list) -> MetaList:
    return MetaList(m[1] if isinstance(m, tuple) else {k: torch.from_numpy(v) if t else v for k, t, v in m}
                    for m in items)


def batch_tensor(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor for the batch (dtype / device of ``like``); in a DataLoader worker in shared memory,
    so sending the batch to the main process copies nothing (what torch's default_collate does)."""
    if torch.utils.data.get_worker_info() is not None and like.device.type == "cpu":
        numel = 1
        for d in shape:
            numel *= d
        return like.new(like._typed_storage()._new_shared(numel, device=like.device)).resize_(shape)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def rows_of_one_tensor(images: list[torch.Tensor]) -> torch.Tensor | None:
    """The (B, ...) tensor whose rows ``images`` are, in order (samples written straight into their batch by
    ``DetectionDataset.__getitems__``), or None when they are separate tensors (then the batch is a copy)."""
    first = images[0]
    if not first.is_contiguous() or first.device.type != "cpu":
        return None
    storage, step = first.untyped_storage(), first.numel()
    off = first.storage_offset()
    for k, im in enumerate(images):
        if (im.shape != first.shape or im.dtype != first.dtype or not im.is_contiguous()
                or im.untyped_storage().data_ptr() != storage.data_ptr() or im.storage_offset() != off + k * step):
            return None
    if (off + len(images) * step) * first.element_size() > storage.nbytes():
        return None
    return first.new_empty(0).set_(storage, off, (len(images), *first.shape))


def collate_detections(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacks images (no copy when they already are the rows of one tensor, as the training samples of one
    ``__getitems__`` call) and flattens targets; see the module doc for the layout. Images of different sizes (rect
    evaluation batches under a ``DistributedSampler``) are padded right / bottom with grey 114 to the largest
    height and width, which moves no box."""
    first = samples[0]["image"]
    shapes = {tuple(s["image"].shape[-2:]) for s in samples}
    if len(shapes) > 1:
        h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
        images = batch_tensor((len(samples), first.shape[0], h, w), first).fill_(114)
        for k, s in enumerate(samples):
            images[k, :, : s["image"].shape[-2], : s["image"].shape[-1]] = s["image"]
    else:
        images = rows_of_one_tensor([s["image"] for s in samples])
        if images is None:
            images = torch.stack([s["image"] for s in samples], out=batch_tensor((len(samples), *first.shape), first))
    h, w = images.shape[-2:]
    rows = []
    for i, s in enumerate(samples):
        b = s["boxes"].reshape(-1, 4).float()
        if len(b):
            cls = s["labels"].reshape(-1, 1).float()
            idx = torch.full((len(b), 1), float(i))
            rows.append(torch.cat((idx, cls, xyxy_to_cxcywh_norm(b, h, w)), 1))
    targets = torch.cat(rows) if rows else torch.zeros((0, 6))
    return {"images": images, "targets": targets, "meta": MetaList(s["meta"] for s in samples)}


def collate_training(samples: list[dict[str, Any]], num_classes: int) -> dict[str, Any]:
    """:func:`collate_detections` plus :func:`with_loss_targets` (the train loaders' collate: the padding is done in
    the loader's workers, so that the training step does not make the host wait for the device)."""
    return with_loss_targets(collate_detections(samples), num_classes)


def with_loss_targets(batch: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """The batch with ``loss_targets``: the loss's padded GT (``gt_labels (B, M, 1)``, ``gt_bboxes (B, M, 4)`` xyxy
    pixels, ``mask_gt (B, M, 1)``, ``imgsz``) made from its ``targets`` on their device (the host, for a loader's
    batch), class ids validated against ``num_classes``."""
    images = batch["images"]
    imgsz = (int(images.shape[-2]), int(images.shape[-1]))
    labels, boxes, mask = pad_targets(targets_to_loss_dict(batch["targets"]), images.shape[0], imgsz, num_classes)
    return {**batch, "loss_targets": {"gt_labels": labels, "gt_bboxes": boxes, "mask_gt": mask, "imgsz": imgsz}}


def targets_to_loss_dict(targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N, 6) targets -> {"batch_idx": (N,), "cls": (N, 1), "bboxes": (N, 4) normalised cx, cy, w, h}."""
    return {"batch_idx": targets[:, 0], "cls": targets[:, 1:2], "bboxes": targets[:, 2:6]}
