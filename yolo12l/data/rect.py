"""Rectangular evaluation batches, as Ultralytics validates.

The images are sorted by aspect ratio (height / width) and cut into consecutive batches of ``batch_size``; each
batch gets one shape, the smallest multiple of ``stride`` that holds its images after their long side is resized to
``imgsz``, plus ``pad`` strides of margin (Ultralytics: 0.5 for validation)::

    ratio range of the batch [lo, hi]:  hi < 1 -> (hi, 1),  lo > 1 -> (1, 1 / lo),  else (1, 1)
    shape = ceil(that * imgsz / stride + pad) * stride          (height, width)

Every image is resized so its long side is ``imgsz`` (bilinear, sides rounded up, as Ultralytics 8.4) and padded to its
batch's shape, centred, never scaled up further. With a sequential sampler the loader's batches are exactly these
batches; with a ``DistributedSampler`` (DDP) a batch can mix neighbours of the order, and ``collate_detections`` pads
them to the largest member (right / bottom, which moves no box).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import DetectionDataset
from .records import ImageRecord


def rect_batch_shapes(sizes: np.ndarray, imgsz: int, batch_size: int, stride: int = 32,
                      pad: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """For (N, 2) (height, width) ``sizes`` already in the sorted order: (N,) batch index of each image and
    (num_batches, 2) int (height, width) shape of each batch."""
    ar = sizes[:, 0] / sizes[:, 1]
    batch = np.arange(len(ar)) // batch_size
    shapes = np.ones((int(batch[-1]) + 1 if len(ar) else 0, 2))
    for b in range(len(shapes)):
        lo, hi = ar[batch == b].min(), ar[batch == b].max()
        if hi < 1:
            shapes[b] = (hi, 1)
        elif lo > 1:
            shapes[b] = (1, 1 / lo)
    return batch, (np.ceil(shapes * imgsz / stride + pad).astype(int) * stride)


class RectEvalDataset(DetectionDataset):
    """Evaluation dataset with rectangular batches: records re-ordered by aspect ratio (stable), per-batch shapes
    from :func:`rect_batch_shapes`. Use it with a sequential loader of the same ``batch_size``."""

    def __init__(self, records: list[ImageRecord], imgsz: int = 640, batch_size: int = 16, *, stride: int = 32,
                 pad: float = 0.5, **kwargs: Any) -> None:
        order = sorted(range(len(records)), key=lambda k: records[k].height / records[k].width)
        super().__init__([records[k] for k in order], imgsz, None, **kwargs)
        self.batch_size, self.stride, self.pad = int(batch_size), int(stride), pad
        sizes = np.array([[r.height, r.width] for r in self.records], dtype=np.float64).reshape(-1, 2)
        self.batch_index, self.batch_shapes = rect_batch_shapes(sizes, self.imgsz, self.batch_size, self.stride,
                                                                pad)

    # eval_letterbox (inherited): long side to imgsz, centred padding to eval_shape — the batch's shape
    def eval_shape(self, i: int) -> tuple[int, int]:
        h, w = self.batch_shapes[self.batch_index[i]]
        return int(h), int(w)
