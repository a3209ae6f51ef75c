"""The one formatter of COCO result entries (``predictions.json`` of validate, test and predict)."""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

__all__ = ["BOX_DECIMALS", "SCORE_DIGITS", "coco_result"]

BOX_DECIMALS = 5
SCORE_DIGITS = 8


def coco_result(image_id: int, box_xyxy: Sequence[float], score: float, label: int,
                category_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """One COCO result entry (the ``predictions.json`` format of validate, test and predict): ``image_id``,
    ``category_id`` = ``category_ids[label]`` (label itself when None), ``bbox`` [x, y, w, h] in original pixels
    rounded to 5 decimals (about float32's resolution; 3, as Ultralytics writes, moved a small object across an IoU
    threshold in the held-out check, 2.6e-4 on mAP_small), ``score`` to 8 significant digits (a float32 score has
    7-8: rounding to decimals would tie low scores and reorder them)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    return {
        "image_id": int(image_id),
        "category_id": int(category_ids[label]) if category_ids is not None else int(label),
        "bbox": [round(v, BOX_DECIMALS) for v in (x1, y1, x2 - x1, y2 - y1)],
        "score": float(f"{float(score):.{SCORE_DIGITS}g}"),
    }
