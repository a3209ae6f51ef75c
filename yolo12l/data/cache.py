"""Annotation cache: a parsed split stored as plain tensors/lists (``torch.save``, loaded ``weights_only=True``).

The key hashes each source path with its ``mtime_ns`` and size (annotation files, label files and image
folders) plus the reader's parameters, so editing/adding/removing a source invalidates the entry. Image
folders are keyed by the folder's own mtime (changes when files are added, removed or renamed, not when a
file is rewritten in place); a rewritten image that no longer decodes is still caught at load time.

Default location: ``$YOLO12L_CACHE_DIR`` or ``~/.cache/yolo12l``, sub-folder ``annotations/``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from .records import DatasetReport, ImageRecord, Issue, IssueKind, ParsedSplit

log = logging.getLogger("yolo12l.data")
CACHE_VERSION = 2  # 2: areas and crowd / difficult regions for the metric


def default_cache_dir() -> Path:
    return Path(os.environ.get("YOLO12L_CACHE_DIR", Path.home() / ".cache" / "yolo12l"))


def fingerprint(paths: Iterable[str | os.PathLike], **params: object) -> str:
    """sha1 over (resolved path, mtime_ns, size) of every path and the JSON of ``params``."""
    h = hashlib.sha1(f"v{CACHE_VERSION}".encode())
    for p in paths:
        p = Path(p).resolve()
        try:
            st = p.stat()
            h.update(f"{p}|{st.st_mtime_ns}|{st.st_size}\n".encode())
        except OSError:
            h.update(f"{p}|missing\n".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _to_payload(split: ParsedSplit) -> dict:
    recs = split.records
    boxes = [r.boxes.reshape(-1, 4) for r in recs]
    return {
        "version": CACHE_VERSION,
        "files": [r.file for r in recs],
        "image_ids": torch.tensor([r.image_id for r in recs], dtype=torch.int64),
        "sizes": torch.tensor([[r.width, r.height] for r in recs], dtype=torch.int64).reshape(-1, 2),
        "counts": torch.tensor([len(b) for b in boxes], dtype=torch.int64),
        "boxes": torch.from_numpy(np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32)),
        "labels": torch.from_numpy(
            np.concatenate([r.labels for r in recs]).astype(np.int64) if recs else np.zeros(0, np.int64)
        ),
        "areas": torch.from_numpy(
            np.concatenate([r.eval_areas() for r in recs]).astype(np.float32) if recs else np.zeros(0, np.float32)
        ),
        "crowd_counts": torch.tensor([len(r.crowd_boxes) for r in recs], dtype=torch.int64),
        "crowd_boxes": torch.from_numpy(
            np.concatenate([r.crowd_boxes.reshape(-1, 4) for r in recs]).astype(np.float32) if recs
            else np.zeros((0, 4), np.float32)
        ),
        "crowd_labels": torch.from_numpy(
            np.concatenate([r.crowd_labels for r in recs]).astype(np.int64) if recs else np.zeros(0, np.int64)
        ),
        "crowd_areas": torch.from_numpy(
            np.concatenate([r.eval_crowd_areas() for r in recs]).astype(np.float32) if recs
            else np.zeros(0, np.float32)
        ),
        "class_names": list(split.class_names),
        "category_ids": [int(c) for c in split.category_ids],
        "issues": [[i.kind.value, i.file, i.message] for i in split.report.issues],
        "report": {
            "name": split.report.name,
            "num_listed": split.report.num_listed,
            "num_images": split.report.num_images,
            "num_boxes": split.report.num_boxes,
        },
    }


def _from_payload(d: dict) -> ParsedSplit:
    if d.get("version") != CACHE_VERSION:
        raise ValueError("cache version mismatch")
    offsets = np.concatenate([[0], np.cumsum(d["counts"].numpy())])
    boxes, labels = d["boxes"].numpy(), d["labels"].numpy()
    ids, sizes = d["image_ids"].tolist(), d["sizes"].tolist()
    areas = d["areas"].numpy()
    c_off = np.concatenate([[0], np.cumsum(d["crowd_counts"].numpy())])
    c_boxes, c_labels, c_areas = d["crowd_boxes"].numpy(), d["crowd_labels"].numpy(), d["crowd_areas"].numpy()
    records = []
    for i, f in enumerate(d["files"]):
        a, b, ca, cb = offsets[i], offsets[i + 1], c_off[i], c_off[i + 1]
        records.append(ImageRecord(f, ids[i], sizes[i][0], sizes[i][1], boxes[a:b].copy(), labels[a:b].copy(),
                                   areas[a:b].copy(), c_boxes[ca:cb].copy(), c_labels[ca:cb].copy(),
                                   c_areas[ca:cb].copy()))
    rep = DatasetReport(d["report"]["name"])
    rep.extend([Issue(IssueKind(k), f, m) for k, f, m in d["issues"]])
    rep.num_listed, rep.num_images, rep.num_boxes = (
        d["report"]["num_listed"], d["report"]["num_images"], d["report"]["num_boxes"]
    )
    return ParsedSplit(records, list(d["class_names"]), list(d["category_ids"]), rep)


class AnnotationCache:
    """Stores/loads :class:`ParsedSplit` objects under ``cache_dir/annotations``; ``enabled=False`` is a no-op."""

    def __init__(self, cache_dir: str | os.PathLike | None = None, enabled: bool = True) -> None:
        self.dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.dir = self.dir / "annotations"
        self.enabled = enabled

    def path(self, kind: str, key: str) -> Path:
        return self.dir / f"{kind}-{key}.pt"

    def load(self, kind: str, key: str) -> ParsedSplit | None:
        p = self.path(kind, key)
        if not self.enabled or not p.is_file():
            return None
        try:
            return _from_payload(torch.load(p, map_location="cpu", weights_only=True))
        except Exception as e:  # stale or damaged cache: rebuild
            log.warning("ignoring unreadable annotation cache %s (%s); re-parsing", p, e)
            return None

    def save(self, kind: str, key: str, split: ParsedSplit) -> Path | None:
        if not self.enabled:
            return None
        p = self.path(kind, key)
        tmp = None
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name, suffix=".tmp")
            os.close(fd)
            torch.save(_to_payload(split), tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes it private
            os.replace(tmp, p)  # atomic: concurrent processes never read a half-written file
        except OSError as e:
            log.warning("could not write annotation cache %s: %s", p, e)
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            return None
        return p

    def get_or_parse(
        self, kind: str, sources: Iterable[str | os.PathLike], params: dict, parse: Callable[[], ParsedSplit]
    ) -> ParsedSplit:
        """Returns the cached split for (sources, params) or runs ``parse`` and stores its result."""
        key = fingerprint(sources, **params)
        hit = self.load(kind, key)
        if hit is not None:
            log.debug("annotation cache hit: %s", self.path(kind, key))
            return hit
        split = parse()
        self.save(kind, key, split)
        return split
