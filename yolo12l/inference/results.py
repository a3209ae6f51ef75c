"""``predictions.json`` of ``yolo12l predict`` (both forms) and where a run writes it.

Entries are :func:`yolo12l.ops.coco_result.coco_result` (the COCO results format validate and test write too) plus the
image's output ``file_name`` (and ``frame``, the frame index from 0, for videos). ``image_id`` is the file stem as
an integer when every input is an image whose stem is a distinct integer (COCO file names such as
``000000000139.jpg``), otherwise the input's ``index``: its position in the sorted image list, then a running
number over the video frames (so ids never collide). ``category_id``
is the class index, mapped through the checkpoint's ``label_to_category_id`` when it has one (yolo12l checkpoints
trained on COCO JSON: the original category ids).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from ..errors import UserError
from ..ops.coco_result import coco_result

__all__ = ["coco_results", "next_run_dir", "write_predictions"]


def _image_ids(preds: Sequence[dict[str, Any]]) -> list[int]:
    stems = [Path(p["file_name"]).stem for p in preds]
    if stems and all(s.isdigit() and "frame" not in p for s, p in zip(stems, preds)) \
            and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return [int(p.get("index", i)) for i, p in enumerate(preds)]


def coco_results(preds: Sequence[dict[str, Any]], category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Predictions (dicts with ``file_name``, ``index``, ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``classes`` (N,),
    optional ``frame``), in input order → COCO result entries (see the module docstring for ids)."""
    results = []
    for image_id, p in zip(_image_ids(preds), preds):
        extra = {"file_name": p["file_name"], **({"frame": int(p["frame"])} if "frame" in p else {})}
        for box, s, k in zip(p["boxes"].tolist(), p["scores"].tolist(), p["classes"].tolist()):
            entry = coco_result(image_id, box, s, int(k), category_ids)
            results.append({"image_id": entry.pop("image_id"), **extra, **entry})
    return results


def write_predictions(preds: Sequence[dict[str, Any]], folder: str | os.PathLike,
                      category_ids: Sequence[int] | None = None) -> tuple[Path, int]:
    """Writes ``<folder>/predictions.json``; returns its path and the number of entries."""
    results = coco_results(preds, category_ids)
    path = Path(folder) / "predictions.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    return path, len(results)


def next_run_dir(base: str | os.PathLike = "runs/predict") -> Path:
    """``runs/predict``, then ``runs/predict2``, ``runs/predict3`` … (the first that does not exist), as
    Ultralytics numbers its runs. Created."""
    base = Path(base)
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}{n}")
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {path}: {exc.strerror or exc}") from exc
    return path
