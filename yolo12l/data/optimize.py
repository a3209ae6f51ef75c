"""``yolo12l optimize-data``: one split of any of our DataModules written as LitData shards.

    yolo12l optimize-data --config configs/coco.yaml --split train --out shards/coco-train
    yolo12l optimize-data --config configs/coco.yaml --split val --out shards/coco-val

The DataModule in the config's ``data`` section parses the split as for training (annotation cache, image checks,
``max_pixels``); its :class:`~.records.ImageRecord` list is written with ``litdata.optimize``. One shard item per
image (see :func:`record_item`): the ORIGINAL encoded file bytes (never re-encoded), its size, image id, file name,
training boxes (xyxy pixels of the displayed image) and classes, and what the metric needs (areas, crowd regions).
``yolo12l_meta.json`` beside ``index.json`` holds the class names, the output category ids and the split's counts.
:class:`~.streaming.StreamingDataModule` reads both. See docs/data_at_scale.md.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, UserError
from .records import ImageRecord, NoUsableDataError

log = logging.getLogger("yolo12l.data")
META_FILE = "yolo12l_meta.json"
FORMAT_VERSION = 1
DEFAULT_CHUNK_SIZE = 64


def record_item(record: ImageRecord, data: bytes) -> dict[str, Any]:
    """The shard item of one image: bytes, ints, a str and numpy arrays only (no pickled objects)."""
    return {
        "image": data,
        "file": str(record.file).encode(),  # bytes: litdata would store the file itself for an image path str
        "image_id": int(record.image_id),
        "width": int(record.width),
        "height": int(record.height),
        "boxes": np.ascontiguousarray(record.boxes, np.float32).reshape(-1, 4),
        "labels": np.ascontiguousarray(record.labels, np.int64).reshape(-1),
        "areas": np.ascontiguousarray(record.eval_areas(), np.float32).reshape(-1),
        "crowd_boxes": np.ascontiguousarray(record.crowd_boxes, np.float32).reshape(-1, 4),
        "crowd_labels": np.ascontiguousarray(record.crowd_labels, np.int64).reshape(-1),
        "crowd_areas": np.ascontiguousarray(record.eval_crowd_areas(), np.float32).reshape(-1),
    }


def item_record(item: dict[str, Any]) -> ImageRecord:
    """:func:`record_item`'s inverse (the image bytes stay in the item)."""
    return ImageRecord(file=bytes(item["file"]).decode(), image_id=int(item["image_id"]), width=int(item["width"]),
                       height=int(item["height"]), boxes=np.asarray(item["boxes"], np.float32).reshape(-1, 4),
                       labels=np.asarray(item["labels"], np.int64).reshape(-1),
                       areas=np.asarray(item["areas"], np.float32).reshape(-1),
                       crowd_boxes=np.asarray(item["crowd_boxes"], np.float32).reshape(-1, 4),
                       crowd_labels=np.asarray(item["crowd_labels"], np.int64).reshape(-1),
                       crowd_areas=np.asarray(item["crowd_areas"], np.float32).reshape(-1))


def _read_item(index: int, records: list[ImageRecord]) -> dict[str, Any]:
    r = records[index]
    return record_item(r, Path(r.file).read_bytes())


def check_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """``out`` as a Path when it can take new shards (a new or empty local folder, or with ``overwrite`` an earlier
    shard folder); else a :class:`UserError` naming it."""
    if "://" in str(out):
        raise ConfigError(f"--out {out}: write the shards to a local folder, then upload it (e.g. aws s3 sync); "
                          "StreamingDataModule reads s3:// folders")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise UserError(f"{out}: exists and is not an empty folder (use --overwrite to replace it)")
        if not (out / "index.json").is_file():  # --overwrite never deletes a folder that is not a shard folder
            raise UserError(f"{out}: not a shard folder (no index.json): --overwrite only replaces shards")
    return out


def write_shards(datamodule: Any, split: str, out: str | os.PathLike, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 num_workers: int = 1, overwrite: bool = False) -> dict[str, Any]:
    """Writes ``split`` of ``datamodule`` (a :class:`~.datamodule.DetectionDataModule`) as shards into ``out`` (a
    new or empty local folder; ``overwrite`` replaces one). Items keep the split's record order when
    ``num_workers`` is 1. Returns the side file's content."""
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")  # no PyPI request
    import litdata

    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split must be train, val or test, got {split!r}")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be >= 1, got {chunk_size}")
    out = check_out(out, overwrite)
    if out.is_dir():
        shutil.rmtree(out)
    parsed = datamodule.split(split)
    if parsed is None:
        raise NoUsableDataError(f"{type(datamodule).__name__}: no '{split}' split configured")
    log.info("%s: %s", split, parsed.scan_line())
    parsed.require_usable()
    records = list(parsed.records)
    out.mkdir(parents=True, exist_ok=True)
    litdata.optimize(fn=functools.partial(_read_item, records=records), inputs=list(range(len(records))),
                     output_dir=str(out), chunk_size=int(chunk_size), num_workers=max(1, int(num_workers)),
                     reorder_files=False, keep_data_ordered=True, mode="overwrite", verbose=False,
                     start_method="fork" if sys.platform == "linux" else None)
    meta = {"format": FORMAT_VERSION, "split": split, "source": type(datamodule).__name__,
            "class_names": list(parsed.class_names), "category_ids": [int(c) for c in parsed.category_ids],
            "num_images": len(records), "num_boxes": int(sum(len(r.boxes) for r in records)),
            "chunk_size": int(chunk_size)}
    (out / META_FILE).write_text(json.dumps(meta, indent=1))
    return meta


def datamodule_from_config(config: str | os.PathLike) -> Any:
    """The ``data`` section of a LightningCLI config (``class_path`` + ``init_args``) instantiated as the CLI does."""
    import yaml
    from jsonargparse import ArgumentParser

    from .datamodule import DetectionDataModule

    path = Path(config)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    data = cfg.get("data") if isinstance(cfg, dict) else None
    if not isinstance(data, dict) or "class_path" not in data:
        raise ConfigError(f"{path}: no 'data:' section with a class_path (a DataModule of yolo12l.data)")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(DetectionDataModule, "data", required=True)
    try:
        ns = parser.parse_object({"data": data})
    except Exception as e:  # jsonargparse's ArgumentError: a bad class or value
        raise ConfigError(f"{path}: data: {e}") from None
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # jsonargparse >= 4.49: the former
    return instantiate(ns).data


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yolo12l optimize-data", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="a training config whose data section names the DataModule")
    p.add_argument("--split", default="train", choices=("train", "val", "test"), help="split to write (train)")
    p.add_argument("--out", required=True, help="output folder (new or empty) for the shards")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help=f"images per chunk (default {DEFAULT_CHUNK_SIZE}; also the mosaic partner window)")
    p.add_argument("--workers", type=int, default=1, help="writer processes (1 keeps the split's order)")
    p.add_argument("--overwrite", action="store_true", help="replace the shards in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..console_log import enable_console_logging

    args = build_parser().parse_args(argv)
    enable_console_logging()
    if not Path(args.config).is_file():
        raise UserError(f"{args.config}: config file not found")
    check_out(args.out, args.overwrite)  # before the DataModule parses anything
    if args.chunk_size < 1:
        raise ConfigError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    dm = datamodule_from_config(args.config)
    meta = write_shards(dm, args.split, args.out, args.chunk_size, args.workers, args.overwrite)
    print(f"wrote {meta['num_images']} images, {meta['num_boxes']} boxes, {len(meta['class_names'])} classes "
          f"({meta['source']} {args.split}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
