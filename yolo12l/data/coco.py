"""COCO ``instances_*.json`` reader.

Category ids may be non-contiguous (official COCO: 1..90 with gaps). They are sorted and mapped to class
indices ``0..nc-1``; ``ParsedSplit.category_ids[i]`` maps back (write predictions with it). ``iscrowd=1``
boxes are not training targets (counted as info) but reach the metric as crowd regions; each annotation's
``area`` (the segmentation area) is kept for the metric's small / medium / large split, as in the official
evaluation. Duplicate image ids: the first entry is kept.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .records import DatasetReport, IssueKind, NoUsableDataError, ParsedSplit, finite_or_nan
from .images import MAX_PIXELS
from .verify import Entry, VerifyMode, build_records


def load_coco_json(path: str | os.PathLike) -> dict:
    """Reads a COCO instances file; raises :class:`NoUsableDataError` naming the file when unusable."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise NoUsableDataError(f"{path}: COCO annotation file not found") from None
    except json.JSONDecodeError as e:
        raise NoUsableDataError(f"{path}: malformed JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NoUsableDataError(f"{path}: cannot read COCO annotation file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise NoUsableDataError(f"{path}: not a COCO instances file (no 'images' list)")
    return data


def coco_categories(data: dict, source: str, report: DatasetReport) -> tuple[list[str], list[int]]:
    """(names, ids) sorted by category id; malformed category entries are reported and skipped."""
    cats: dict[int, str] = {}
    for i, c in enumerate(data.get("categories") or []):
        try:
            cid, name = int(c["id"]), str(c["name"])
        except (KeyError, TypeError, ValueError):
            report.add(IssueKind.MALFORMED_ANNOTATION, source, f"categories[{i}] = {c!r} lacks id/name: skipped")
            continue
        if cid in cats:
            report.add(IssueKind.MALFORMED_ANNOTATION, source, f"category id {cid} listed twice: first kept")
            continue
        cats[cid] = name
    ids = sorted(cats)
    return [cats[i] for i in ids], ids


def parse_coco(
    annotations: str | os.PathLike,
    images_dir: str | os.PathLike,
    *,
    categories: tuple[list[str], list[int]] | None = None,
    verify: VerifyMode = "header",
    name: str | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> ParsedSplit:
    """Parses a COCO split. ``categories`` = (names, ids) of the training split, to share its class indices
    with validation (unknown category ids are then reported and dropped)."""
    ann_path, images_dir = Path(annotations), Path(images_dir)
    src = str(ann_path)
    report = DatasetReport(name or ann_path.name)
    data = load_coco_json(ann_path)
    own_names, own_ids = coco_categories(data, src, report)
    names, ids = categories if categories is not None else (own_names, own_ids)
    if not names:
        raise NoUsableDataError(f"{src}: no categories defined")
    label_of = {cid: k for k, cid in enumerate(ids)}

    entries: dict[int, Entry] = {}
    for i, im in enumerate(data["images"]):
        try:
            iid, fname = int(im["id"]), str(im["file_name"])
        except (KeyError, TypeError, ValueError):
            report.add(IssueKind.MALFORMED_ANNOTATION, src, f"images[{i}] = {im!r} lacks id/file_name: skipped")
            continue
        if iid in entries:
            report.add(IssueKind.DUPLICATE_IMAGE, str(images_dir / fname),
                       f"image id {iid} already used by {entries[iid].file.name}: duplicate ignored, first kept")
            continue
        try:
            size = (int(im["width"]), int(im["height"]))
        except (KeyError, TypeError, ValueError):
            size = None
        entries[iid] = Entry(images_dir / fname, iid, size)

    # per image: boxes, labels, areas, crowd boxes, crowd labels, crowd areas
    per_image: dict[int, tuple[list, ...]] = {iid: ([], [], [], [], [], []) for iid in entries}
    for j, a in enumerate(data.get("annotations") or []):
        if not isinstance(a, dict) or "image_id" not in a:
            report.add(IssueKind.MALFORMED_ANNOTATION, src, f"annotations[{j}] has no image_id: skipped")
            continue
        try:
            iid = int(a["image_id"])
        except (TypeError, ValueError):
            iid = None
        if iid not in per_image:
            report.add(IssueKind.MALFORMED_ANNOTATION, src,
                       f"annotation id {a.get('id')} refers to unknown image id {a['image_id']!r}: skipped")
            continue
        file = str(entries[iid].file)
        try:
            cid = int(a.get("category_id"))
        except (TypeError, ValueError):
            cid = None
        if cid not in label_of:
            report.add(IssueKind.UNKNOWN_CLASS, file,
                       f"annotation id {a.get('id')}: category_id {a.get('category_id')!r} not in the class list: dropped")
            continue
        bbox = a.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            bbox = [float("nan")] * 4
        x, y, w, h = (finite_or_nan(v) for v in bbox)
        area = finite_or_nan(a.get("area"))
        area = area if area >= 0 else -1.0  # NaN / missing / negative: the metric uses the box area
        crowd = 3 if a.get("iscrowd", 0) else 0
        if crowd:
            report.add(IssueKind.CROWD_EXCLUDED, file,
                       f"annotation id {a.get('id')} is iscrowd=1: not a training target, ignored by the metric")
        per_image[iid][crowd].append([x, y, x + w, y + h])
        per_image[iid][crowd + 1].append(label_of[cid])
        per_image[iid][crowd + 2].append(area)

    for iid, (b, lab, area, cb, clab, carea) in per_image.items():
        e = entries[iid]
        e.boxes, e.labels, e.areas = np.array(b, np.float64).reshape(-1, 4), np.array(lab, np.int64), np.array(
            area, np.float32)
        e.crowd_boxes, e.crowd_labels = np.array(cb, np.float64).reshape(-1, 4), np.array(clab, np.int64)
        e.crowd_areas = np.array(carea, np.float32)
    records = build_records(list(entries.values()), report, verify, max_pixels)
    return ParsedSplit(records, list(names), list(ids), report)
