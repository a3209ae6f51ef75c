"""Parsed dataset records and the issues report shared by all readers.

Every reader (COCO JSON, Pascal VOC XML, YOLO txt) turns its annotations into a list of
:class:`ImageRecord` (boxes ``xyxy`` in 0-based pixels of the image *as displayed*, i.e. after EXIF
orientation) plus a :class:`DatasetReport` that names every file where something was fixed, dropped or
skipped.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..errors import UserError

log = logging.getLogger("yolo12l.data")


class NoUsableDataError(UserError, RuntimeError):
    """Raised when a dataset split has no usable image at all (or its annotation file is unreadable)."""


class IssueKind(str, Enum):
    """What went wrong (or was adjusted) for one file. ``INFO_KINDS`` are not problems, only facts."""

    MALFORMED_ANNOTATION = "malformed_annotation"  # unreadable XML/JSON/txt, or a bad entry in it
    MISSING_IMAGE = "missing_image"  # listed but not on disk -> image skipped
    EMPTY_FILE = "empty_file"  # zero-byte image -> skipped
    CORRUPT_IMAGE = "corrupt_image"  # header cannot be decoded -> skipped
    TOO_LARGE = "too_large"  # more pixels than max_pixels (decompression bomb) -> skipped, never decoded
    LOAD_FAILED = "load_failed"  # decode failed while training -> replaced by another index
    DUPLICATE_IMAGE = "duplicate_image"  # same image id / file listed twice -> first kept
    SIZE_MISMATCH = "size_mismatch"  # annotated size != real (EXIF-applied) size -> real size used
    BOX_CLIPPED = "box_clipped"  # box partly outside the image -> clipped
    BOX_DEGENERATE = "box_degenerate"  # zero/negative size (after clipping) -> dropped
    BOX_NAN = "box_nan"  # non-finite coordinate -> dropped
    UNKNOWN_CLASS = "unknown_class"  # class name / id not in the class list -> box dropped
    LABEL_WITHOUT_IMAGE = "label_without_image"  # YOLO txt label file whose image is missing -> its boxes unused
    CROWD_EXCLUDED = "crowd_excluded"  # COCO iscrowd=1 -> not a training target
    DIFFICULT_EXCLUDED = "difficult_excluded"  # VOC difficult=1 -> not a training target (default)
    NO_BOXES = "no_boxes"  # image without any box -> kept as background
    CONVERTED = "converted"  # grayscale / RGBA / palette / 16-bit -> converted to 8-bit RGB
    EXIF_ROTATED = "exif_rotated"  # EXIF orientation applied (boxes are in the displayed orientation)


INFO_KINDS = frozenset(
    {IssueKind.CROWD_EXCLUDED, IssueKind.DIFFICULT_EXCLUDED, IssueKind.NO_BOXES, IssueKind.CONVERTED,
     IssueKind.EXIF_ROTATED}
)


@dataclass(frozen=True)
class Issue:
    kind: IssueKind
    file: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind.value}] {self.file}: {self.message}"


class DatasetReport:
    """Collects issues per kind while a split is parsed, verified and loaded; prints one summary.

    ``add`` logs the first ``log_first`` problems of each kind at WARNING (info kinds at DEBUG) so a large
    dataset does not flood the log; :meth:`summary` lists counts and (optionally) every file.
    """

    def __init__(self, name: str = "", log_first: int = 5) -> None:
        self.name = name
        self.log_first = log_first
        self.issues: list[Issue] = []
        self._seen: Counter[IssueKind] = Counter()
        self.num_images = 0  # usable images after parsing/verification
        self.num_boxes = 0  # training targets kept
        self.num_listed = 0  # images listed in the source

    def add(self, kind: IssueKind | str, file: str, message: str) -> None:
        issue = Issue(IssueKind(kind), str(file), message)
        self.issues.append(issue)
        self._seen[issue.kind] += 1
        if self._seen[issue.kind] <= self.log_first:
            level = logging.DEBUG if issue.kind in INFO_KINDS else logging.WARNING
            prefix = f"{self.name}: " if self.name else ""
            log.log(level, "%s%s", prefix, issue)

    def extend(self, issues: list[Issue]) -> None:
        """Adds already-formed issues (e.g. replayed from the annotation cache) without logging each."""
        self.issues.extend(issues)
        self._seen.update(i.kind for i in issues)

    def counts(self) -> dict[str, int]:
        return dict(Counter(i.kind.value for i in self.issues))

    def files(self, kind: IssueKind | str | None = None) -> list[str]:
        """Distinct files with an issue (of ``kind`` if given), in first-seen order."""
        k = None if kind is None else IssueKind(kind)
        return list(dict.fromkeys(i.file for i in self.issues if k is None or i.kind == k))

    @property
    def problems(self) -> list[Issue]:
        return [i for i in self.issues if i.kind not in INFO_KINDS]

    def summary(self, list_files: bool = False, max_files: int | None = 20, include_info: bool = False) -> str:
        """Multi-line text: image/box totals, count per kind, and (``list_files``) the files of each problem
        kind, plus those of the info kinds when ``include_info``."""
        head = f"{self.name}: " if self.name else ""
        lines = [f"{head}{self.num_images} usable images of {self.num_listed} listed, {self.num_boxes} boxes"]
        counts = self.counts()
        for kind in IssueKind:
            n = counts.get(kind.value, 0)
            if not n:
                continue
            tag = " (info)" if kind in INFO_KINDS else ""
            lines.append(f"  {kind.value}{tag}: {n}")
            if list_files and (include_info or kind not in INFO_KINDS):
                issues = [i for i in self.issues if i.kind == kind]
                shown = issues if max_files is None else issues[:max_files]
                lines.extend(f"    {i.file}: {i.message}" for i in shown)
                if len(shown) < len(issues):
                    lines.append(f"    ... and {len(issues) - len(shown)} more")
        return "\n".join(lines)


def _no_areas() -> np.ndarray:
    return np.zeros((0,), np.float32)


@dataclass
class ImageRecord:
    """One image, its training targets and what only the evaluation sees.

    boxes: (n, 4) float32 ``x1, y1, x2, y2`` in 0-based pixels of the displayed image (EXIF applied),
    clipped to ``[0, width] x [0, height]``; labels: (n,) int64 contiguous class indices ``0..nc-1``.
    areas: (n,) float32 object area for the metric's small / medium / large split (COCO's ``area``, i.e. the
    segmentation area), -1 where the source has none (the metric then uses the box area); may be empty (= all -1).
    crowd_boxes (k, 4) / crowd_labels (k,) / crowd_areas (k,): regions the metric ignores and training never sees
    (COCO ``iscrowd=1``, VOC ``difficult=1``); a detection matched to one is neither a hit nor a miss.
    """

    file: str
    image_id: int
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    areas: np.ndarray = field(default_factory=_no_areas)
    crowd_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    crowd_labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    crowd_areas: np.ndarray = field(default_factory=_no_areas)

    def eval_areas(self) -> np.ndarray:
        """(n,) float32 :attr:`areas`, -1 filled in when the source gave none."""
        return self.areas if len(self.areas) == len(self.boxes) else np.full(len(self.boxes), -1.0, np.float32)

    def eval_crowd_areas(self) -> np.ndarray:
        """(k,) float32 :attr:`crowd_areas`, -1 filled in when the source gave none."""
        n = len(self.crowd_boxes)
        return self.crowd_areas if len(self.crowd_areas) == n else np.full(n, -1.0, np.float32)


@dataclass
class ParsedSplit:
    """A parsed split: the usable records, the class list and its output ids, and the issues report.

    ``category_ids[i]`` is the id to write in COCO-format predictions for class index ``i``.
    """

    records: list[ImageRecord]
    class_names: list[str]
    category_ids: list[int]
    report: DatasetReport

    def scan_line(self) -> str:
        """One line per split, as Ultralytics' "Scanning …" line: images, boxes, classes present, background
        images (no box), images skipped (listed but unusable) and where it came from."""
        rep = self.report
        present = len({int(c) for r in self.records for c in r.labels})
        backgrounds = sum(1 for r in self.records if not len(r.boxes))
        skipped = max(rep.num_listed - rep.num_images, 0)
        return (f"{rep.num_images} images, {rep.num_boxes} boxes, {present}/{len(self.class_names)} classes, "
                f"{backgrounds} backgrounds, {skipped} skipped, {len(rep.problems)} problems"
                f"{f' ({rep.name})' if rep.name else ''}")

    def require_usable(self) -> None:
        if not self.records:
            raise NoUsableDataError(
                f"no usable image in {self.report.name or 'dataset'}:\n{self.report.summary(list_files=True)}"
            )


def sanitize_boxes(
    boxes: np.ndarray, labels: np.ndarray, width: int, height: int, file: str, report: DatasetReport,
    areas: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drops NaN/inf and zero/negative-size boxes, clips to the image; each fix is reported.

    boxes: (n, 4) xyxy pixels, labels: (n,). Returns float32 boxes and int64 labels, and the kept entries of
    ``areas`` (n,) as float32 when given.
    """
    if areas is not None:
        areas = np.asarray(areas, np.float32).reshape(-1)
        if len(areas) != len(np.asarray(labels).reshape(-1)):
            raise ValueError(f"{file}: {len(areas)} areas for {len(labels)} boxes")
        labels = np.asarray(labels, np.int64).reshape(-1)
        kept_boxes, kept = sanitize_boxes(boxes, np.arange(len(labels)), width, height, file, report)
        return kept_boxes, labels[kept], areas[kept]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    finite = np.isfinite(boxes).all(1)
    for j in np.flatnonzero(~finite):
        report.add(IssueKind.BOX_NAN, file, f"box {boxes[j].tolist()} has a non-finite coordinate: dropped")
    boxes, labels = boxes[finite], labels[finite]
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    valid = (clipped[:, 2] - clipped[:, 0] > 0) & (clipped[:, 3] - clipped[:, 1] > 0)
    moved = np.abs(clipped - boxes).max(1) > 1e-3 if len(boxes) else np.zeros(0, bool)
    for j in range(len(boxes)):
        b = [round(float(v), 2) for v in boxes[j]]
        if not valid[j]:
            report.add(
                IssueKind.BOX_DEGENERATE, file,
                f"box {b} has zero/negative size{' inside the image' if moved[j] else ''} ({width}x{height}): dropped",
            )
        elif moved[j]:
            report.add(IssueKind.BOX_CLIPPED, file, f"box {b} extends outside the {width}x{height} image: clipped")
    return clipped[valid].astype(np.float32), labels[valid]


def image_id_from_stem(stem: str) -> int | None:
    """``000000000009`` -> 9; None when the stem is not a plain decimal number."""
    return int(stem) if stem.isdigit() else None


def assign_image_ids(records: list[ImageRecord]) -> None:
    """Keeps numeric stems as ids; gives every other / clashing record a fresh id above the maximum."""
    used: set[int] = set()
    pending: list[ImageRecord] = []
    for r in records:
        if r.image_id >= 0 and r.image_id not in used:
            used.add(r.image_id)
        else:
            pending.append(r)
    nxt = max(used, default=-1) + 1
    for r in pending:
        r.image_id = nxt
        nxt += 1


def finite_or_nan(x: object) -> float:
    """float(x), or NaN when it is not a number (so malformed coordinates are dropped as NaN boxes)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v
