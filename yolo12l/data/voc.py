"""Pascal VOC reader: ``VOCdevkit/VOC20xx/{Annotations,JPEGImages,ImageSets/Main}``.

Coordinates: VOC boxes are 1-based inclusive pixel indices; pixel ``i`` (1-based) covers ``[i-1, i]`` in
continuous 0-based coordinates, so a box maps to ``[xmin-1, ymin-1, xmax, ymax]``. (Ultralytics'
``VOC.yaml`` converter subtracts 1 from the box centre instead, i.e. also from xmax/ymax: up to 1 px apart
at the max corner.) On the shared COCO128-as-VOC data this matches the COCO JSON boxes within 0.5 px.

Objects with ``difficult=1`` are excluded from training targets by default (``keep_difficult``) and reach the
metric as ignored regions (a detection on one is neither a hit nor a miss, the VOC rule). Unknown
class names are warned about and dropped. Several years/splits combine with ``sets=[(root, split), ...]``.
Class indices follow ``class_names`` (default: the 20 VOC classes in the usual order); the output ids
(``category_ids``) are ``0..nc-1``.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .records import DatasetReport, IssueKind, ParsedSplit, finite_or_nan
from .images import MAX_PIXELS
from .verify import Entry, VerifyMode, build_records

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def read_split_ids(root: Path, split: str) -> list[str]:
    """Image ids (first token of each non-empty line) of ``ImageSets/Main/<split>.txt``."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def _parse_xml(xml_path: Path, root: Path, image_id: str, label_of: dict[str, int], keep_difficult: bool,
               report: DatasetReport) -> Entry | None:
    try:
        tree = ET.parse(xml_path)
    except FileNotFoundError:
        report.add(IssueKind.MALFORMED_ANNOTATION, str(xml_path), "annotation file not found: image skipped")
        return None
    except (ET.ParseError, OSError, UnicodeDecodeError) as e:
        report.add(IssueKind.MALFORMED_ANNOTATION, str(xml_path), f"malformed XML ({e}): image skipped")
        return None
    ann = tree.getroot()
    img_dir = root / "JPEGImages"
    file = img_dir / f"{image_id}.jpg"
    fname = (ann.findtext("filename") or "").strip()
    if not file.exists() and fname and (img_dir / fname).exists():
        file = img_dir / fname
    size = None
    w, h = ann.findtext("size/width"), ann.findtext("size/height")
    if w and h:
        try:
            size = (int(float(w)), int(float(h)))
        except ValueError:
            size = None
    boxes, labels, hard_boxes, hard_labels = [], [], [], []
    for k, obj in enumerate(ann.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if name not in label_of:
            report.add(IssueKind.UNKNOWN_CLASS, str(file), f"object {k}: unknown class name {name!r}: dropped")
            continue
        difficult = not keep_difficult and (obj.findtext("difficult") or "0").strip() not in ("0", "")
        if difficult:
            report.add(IssueKind.DIFFICULT_EXCLUDED, str(file),
                       f"object {k} ({name}) is difficult: not a training target, ignored by the metric")
        bb = obj.find("bndbox")
        x1, y1, x2, y2 = (finite_or_nan(bb.findtext(t) if bb is not None else None)
                          for t in ("xmin", "ymin", "xmax", "ymax"))
        (hard_boxes if difficult else boxes).append([x1 - 1, y1 - 1, x2, y2])
        (hard_labels if difficult else labels).append(label_of[name])
    return Entry(file, None, size, np.array(boxes, np.float64).reshape(-1, 4), np.array(labels, np.int64),
                 crowd_boxes=np.array(hard_boxes, np.float64).reshape(-1, 4),
                 crowd_labels=np.array(hard_labels, np.int64))


def parse_voc(
    sets: Sequence[tuple[str | os.PathLike, str]],
    class_names: Sequence[str] | None = None,
    *,
    keep_difficult: bool = False,
    verify: VerifyMode = "header",
    name: str | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> ParsedSplit:
    """Parses and combines VOC ``(root, split)`` sets, e.g. ``[("VOCdevkit/VOC2007", "trainval")]``."""
    names = list(class_names) if class_names is not None else list(VOC_CLASSES)
    label_of = {n: i for i, n in enumerate(names)}
    report = DatasetReport(name or "+".join(f"{Path(r).name}/{s}" for r, s in sets))
    entries: list[Entry] = []
    seen: set[Path] = set()
    for root, split in sets:
        root = Path(root)
        try:
            ids = read_split_ids(root, split)
        except OSError as e:
            report.add(IssueKind.MALFORMED_ANNOTATION, str(root / "ImageSets" / "Main" / f"{split}.txt"),
                       f"cannot read split list ({e}): set skipped")
            continue
        for iid in ids:
            xml_path = root / "Annotations" / f"{iid}.xml"
            if xml_path in seen:
                report.add(IssueKind.DUPLICATE_IMAGE, str(xml_path), "listed twice: first kept")
                continue
            seen.add(xml_path)
            e = _parse_xml(xml_path, root, iid, label_of, keep_difficult, report)
            if e is not None:
                entries.append(e)
    records = build_records(entries, report, verify, max_pixels)
    return ParsedSplit(records, names, list(range(len(names))), report)


def voc_sources(sets: Sequence[tuple[str | os.PathLike, str]]) -> list[Path]:
    """Files whose stat keys the annotation cache: split lists, every listed XML, image folders."""
    out: list[Path] = []
    for root, split in sets:
        root = Path(root)
        lst = root / "ImageSets" / "Main" / f"{split}.txt"
        out += [lst, root / "JPEGImages"]
        try:
            out += [root / "Annotations" / f"{i}.xml" for i in read_split_ids(root, split)]
        except OSError:
            pass
    return out
