"""COCO ``instances_*.json`` reader.

Category ids may be non-contiguous (official COCO: 1..90 with gaps). They are sorted and mapped to class
indices ``0..nc-1``; ``ParsedSplit.category_ids[i]`` maps back (write predictions with it). ``iscrowd=1``
boxes are not training targets (counted as info) but reach the metric as crowd regions; each annotation's
``area`` (the segmentation area) is kept for the metric's small / medium / large split, as in the official
evaluation. Duplicate image ids: the first entry is kept.

The file is never parsed as one object tree (:mod:`.json_stream`): a first pass reads the images (each entry turned
into a record as soon as read), the categories and the number of annotations; a second pass reads the annotations
one at a time into flat arrays (not a Python list per box), grouped per image at the end. Memory stays near the
records' own size whatever the file's (a 178 MB file of 120k images and 900k annotations: 264 MB peak for the
reading, against 1353 MB for ``json.load``, and half its CPU time for both passes). Large files: reading one of at
least :data:`BIG_JSON_BYTES` logs a line before (size) and after the first pass (seconds, counts), and the
annotations are then read with a progress display.
"""
from __future__ import annotations

import json
import logging
import os
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .records import DatasetReport, IssueKind, NoUsableDataError, ParsedSplit, finite_or_nan
from .images import MAX_PIXELS
from .json_stream import ARRAY, NotAnObject, iter_object
from .verify import Entry, VerifyMode, build_records, progress

log = logging.getLogger("yolo12l.data")
BIG_JSON_BYTES = 32 * 2**20  # files at least this large get a line before / after reading
PROGRESS_ANNOTATIONS = 100_000  # annotation lists at least this long show progress


def _read_coco(path: Path) -> Iterator[tuple[str, int | None, Any]]:
    """:func:`~.json_stream.iter_object` over a COCO file, ``images`` and ``annotations`` element by element; an
    unreadable or malformed file is one :class:`NoUsableDataError` naming it."""
    try:
        yield from iter_object(path, stream=("images", "annotations"))
    except FileNotFoundError:
        raise NoUsableDataError(f"{path}: COCO annotation file not found") from None
    except json.JSONDecodeError as e:
        raise NoUsableDataError(f"{path}: malformed JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except NotAnObject:
        raise NoUsableDataError(f"{path}: not a COCO instances file (no 'images' list)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NoUsableDataError(f"{path}: cannot read COCO annotation file ({e})") from None


def _add_image(entries: dict[int, Entry], im: Any, i: int, images_dir: Path, src: str, report: DatasetReport) -> None:
    """``images[i]`` of the file into ``entries`` (by image id), or a report naming what is wrong with it."""
    try:
        iid, fname = int(im["id"]), str(im["file_name"])
    except (KeyError, TypeError, ValueError):
        report.add(IssueKind.MALFORMED_ANNOTATION, src, f"images[{i}] = {im!r} lacks id/file_name: skipped")
        return
    if iid in entries:
        report.add(IssueKind.DUPLICATE_IMAGE, str(images_dir / fname),
                   f"image id {iid} already used by {entries[iid].file.name}: duplicate ignored, first kept")
        return
    try:
        size = (int(im["width"]), int(im["height"]))
    except (KeyError, TypeError, ValueError):
        size = None
    entries[iid] = Entry(images_dir / fname, iid, size)


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
    size = ann_path.stat().st_size if ann_path.is_file() else 0
    big = size >= BIG_JSON_BYTES
    if big:
        log.info("%s: reading %.0f MB of COCO JSON", ann_path, size / 1e6)
    t0 = time.monotonic()

    # first pass: the images (each entry released as soon as read), the categories and the annotation count
    entries: dict[int, Entry] = {}
    cat_values, images_listed, n_images, n_anns, first = None, False, 0, 0, len(report.issues)
    for key, i, im in _read_coco(ann_path):
        if key == "categories" and i is None:
            cat_values = im
        elif key == "annotations" and i is not None:
            n_anns += 1
        elif key != "images":
            continue
        elif i is None:
            images_listed = im is ARRAY
        else:
            n_images += 1
            _add_image(entries, im, i, images_dir, src, report)
        del im
    if not images_listed:
        raise NoUsableDataError(f"{src}: not a COCO instances file (no 'images' list)")
    if big:
        log.info("%s: read in %.1f s: %d images, %d annotations", ann_path, time.monotonic() - t0,
                 n_images, n_anns)
    image_issues = report.issues[first:]
    del report.issues[first:]
    own_names, own_ids = coco_categories({"categories": cat_values}, src, report)
    report.issues.extend(image_issues)  # the category issues first, as they are listed
    names, ids = categories if categories is not None else (own_names, own_ids)
    if not names:
        raise NoUsableDataError(f"{src}: no categories defined")
    label_of = {cid: k for k, cid in enumerate(ids)}

    # per annotation, in flat arrays: image slot, crowd flag, xyxy, label, area (grouped per image below)
    slot_of = {iid: k for k, iid in enumerate(entries)}
    files = [e.file for e in entries.values()]
    slots, crowds, coords, labels, areas = array("q"), array("b"), array("d"), array("q"), array("f")
    # second pass: the annotations, each turned into array entries as soon as read
    anns: Iterator[tuple[int, Any]] = ((j, a) for key, j, a in _read_coco(ann_path)
                                       if key == "annotations" and j is not None)
    if n_anns >= PROGRESS_ANNOTATIONS:
        anns = progress(anns, n_anns, "reading annotations", unit="box")
    for j, a in anns:
        if not isinstance(a, dict) or "image_id" not in a:
            report.add(IssueKind.MALFORMED_ANNOTATION, src, f"annotations[{j}] has no image_id: skipped")
            continue
        try:
            iid = int(a["image_id"])
        except (TypeError, ValueError):
            iid = None
        k = slot_of.get(iid) if iid is not None else None
        if k is None:
            report.add(IssueKind.MALFORMED_ANNOTATION, src,
                       f"annotation id {a.get('id')} refers to unknown image id {a['image_id']!r}: skipped")
            continue
        try:
            cid = int(a.get("category_id"))
        except (TypeError, ValueError):
            cid = None
        if cid not in label_of:
            report.add(IssueKind.UNKNOWN_CLASS, str(files[k]),
                       f"annotation id {a.get('id')}: category_id {a.get('category_id')!r} not in the class list: "
                       "dropped")
            continue
        bbox = a.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            bbox = [float("nan")] * 4
        x, y, w, h = (finite_or_nan(v) for v in bbox)
        area = finite_or_nan(a.get("area"))
        area = area if area >= 0 else -1.0  # NaN / missing / negative: the metric uses the box area
        crowd = bool(a.get("iscrowd", 0))
        if crowd:
            report.add(IssueKind.CROWD_EXCLUDED, str(files[k]),
                       f"annotation id {a.get('id')} is iscrowd=1: not a training target, ignored by the metric")
        slots.append(k)
        crowds.append(crowd)
        coords.extend((x, y, x + w, y + h))
        labels.append(label_of[cid])
        areas.append(area)
    slot, is_crowd = np.array(slots, np.int64), np.array(crowds, np.int8).astype(bool)
    box = np.array(coords, np.float64).reshape(-1, 4)
    lab, area_ = np.array(labels, np.int64), np.array(areas, np.float32)
    del slots, crowds, coords, labels, areas
    groups = []
    for mask in (~is_crowd, is_crowd):  # each image's boxes in file order: a stable sort by image slot
        order = np.argsort(slot[mask], kind="stable")
        offsets = np.concatenate([[0], np.cumsum(np.bincount(slot[mask], minlength=len(entries)))])
        groups.append((offsets, box[mask][order], lab[mask][order], area_[mask][order]))
    (off, b, la, ar), (coff, cb, cla, car) = groups
    for k, e in enumerate(entries.values()):
        e.boxes, e.labels, e.areas = b[off[k]:off[k + 1]], la[off[k]:off[k + 1]], ar[off[k]:off[k + 1]]
        e.crowd_boxes, e.crowd_labels = cb[coff[k]:coff[k + 1]], cla[coff[k]:coff[k + 1]]
        e.crowd_areas = car[coff[k]:coff[k + 1]]
    records = build_records(list(entries.values()), report, verify, max_pixels)
    return ParsedSplit(records, list(names), list(ids), report)
