"""Turns raw annotation entries into verified :class:`ImageRecord` s (images probed once, in threads).

Each reader produces :class:`Entry` objects; :func:`build_records` checks every image (see
``images.probe_image`` for how cheap that is), converts normalised boxes with the real image size,
sanitises boxes and fills the :class:`DatasetReport`.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .images import MAX_PIXELS, ImageInfo, ImageLoadError, probe_image
from .records import DatasetReport, ImageRecord, IssueKind, assign_image_ids, image_id_from_stem, sanitize_boxes

VerifyMode = Literal["header", "full", "none"]
log = logging.getLogger("yolo12l.data")
PROGRESS_MIN = 2000  # image checks of at least this many files show progress


def progress(items: Iterable, total: int, desc: str, every_s: float = 10.0, unit: str = "img") -> Iterator:
    """``items`` passed through with a progress display: a tqdm bar on a terminal, else a log line every
    ``every_s`` seconds and one at the end (so long checks are never silent in a log file)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, unit=unit, mininterval=0.5, leave=False)
        return
    t0 = last = time.monotonic()
    k = 0
    for k, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            log.info("%s: %d/%d (%.0f%%, %.0f s)", desc, k, total, 100 * k / max(1, total), now - t0)
            last = now
    log.info("%s: %d done in %.1f s", desc, k, time.monotonic() - t0)


@dataclass
class Entry:
    """An image as listed by an annotation source.

    boxes: (n, 4) xyxy in pixels, or normalised to [0, 1] when ``normalized`` (YOLO txt).
    size: annotated (width, height) if the source has one.
    areas (n,), crowd_boxes (k, 4) pixels, crowd_labels (k,), crowd_areas (k,): evaluation-only data, see
    :class:`ImageRecord` (empty areas: unknown).
    """

    file: Path
    image_id: int | None = None
    size: tuple[int, int] | None = None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    normalized: bool = False
    areas: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    crowd_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    crowd_labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    crowd_areas: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))


def probe_all(files: list[Path], full: bool = False, threads: int = 8,
              max_pixels: int | None = MAX_PIXELS) -> list[ImageInfo | ImageLoadError]:
    def one(f: Path) -> ImageInfo | ImageLoadError:
        try:
            return probe_image(f, full=full, max_pixels=max_pixels)
        except ImageLoadError as e:
            return e

    if len(files) < 32:
        return [one(f) for f in files]
    with ThreadPoolExecutor(threads) as ex:
        results = ex.map(one, files, chunksize=64)
        if len(files) >= PROGRESS_MIN:
            results = progress(results, len(files), "checking images")
        return list(results)


def build_records(entries: list[Entry], report: DatasetReport, verify: VerifyMode = "header",
                  max_pixels: int | None = MAX_PIXELS) -> list[ImageRecord]:
    """Verifies images and boxes of ``entries``; returns the usable records and updates ``report`` totals.

    verify="none" trusts the annotated sizes and never opens an image (entries without a size, or with
    normalised boxes, are still probed); images over ``max_pixels`` (probed or annotated size) are skipped.
    """
    need_probe = [verify != "none" or e.size is None or e.normalized for e in entries]
    probed = probe_all([e.file for e, n in zip(entries, need_probe) if n], full=verify == "full",
                       max_pixels=max_pixels)
    it = iter(probed)
    records: list[ImageRecord] = []
    pairs: Iterable = zip(entries, need_probe)
    if len(entries) >= PROGRESS_MIN:
        pairs = progress(pairs, len(entries), "checking boxes")
    for e, n in pairs:
        file = str(e.file)
        info = next(it) if n else None
        if isinstance(info, ImageLoadError):
            report.add(info.kind, file, f"{info.reason}: image skipped")
            continue
        if info is not None:
            w, h = info.width, info.height
            if info.conversion:
                report.add(IssueKind.CONVERTED, file, info.conversion)
            if info.orientation != 1:
                report.add(IssueKind.EXIF_ROTATED, file,
                           f"EXIF orientation {info.orientation} applied; boxes are in the displayed {w}x{h} frame")
            if e.size is not None and tuple(e.size) != (w, h):
                report.add(IssueKind.SIZE_MISMATCH, file,
                           f"annotated size {e.size[0]}x{e.size[1]} but image is {w}x{h} (EXIF applied): "
                           "real size used, boxes clipped to it")
        else:
            w, h = e.size  # type: ignore[misc]
            if max_pixels is not None and w * h > max_pixels:
                report.add(IssueKind.TOO_LARGE, file, f"annotated size {w}x{h} is over the max_pixels limit of "
                                                      f"{max_pixels / 1e6:g} Mpx: image skipped")
                continue
        boxes = np.asarray(e.boxes, np.float64).reshape(-1, 4)
        if e.normalized:
            boxes = boxes * np.array([w, h, w, h], np.float64)
        labels = np.asarray(e.labels, np.int64).reshape(-1)
        areas = e.areas if len(e.areas) == len(labels) else np.full(len(labels), -1.0, np.float32)
        boxes, labels, areas = sanitize_boxes(boxes, labels, w, h, file, report, areas=areas)
        crowd = np.asarray(e.crowd_boxes, np.float64).reshape(-1, 4)
        crowd_labels = np.asarray(e.crowd_labels, np.int64).reshape(-1)
        crowd_areas = e.crowd_areas if len(e.crowd_areas) == len(crowd) else np.full(len(crowd), -1.0, np.float32)
        if len(crowd):
            crowd, crowd_labels, crowd_areas = sanitize_boxes(crowd, crowd_labels, w, h, file, report,
                                                              areas=crowd_areas)
        if len(boxes) == 0:
            report.add(IssueKind.NO_BOXES, file, "no boxes: kept as a background image")
        iid = e.image_id if e.image_id is not None else image_id_from_stem(e.file.stem)
        records.append(ImageRecord(file, -1 if iid is None else iid, int(w), int(h), boxes, labels,
                                   areas.astype(np.float32), crowd.astype(np.float32).reshape(-1, 4),
                                   crowd_labels, np.asarray(crowd_areas, np.float32)))
    assign_image_ids(records)
    report.num_listed += len(entries)
    report.num_images += len(records)
    report.num_boxes += sum(len(r.boxes) for r in records)
    return records
