"""``yolo12l check-data``: parse a dataset split, verify its images and print every problem, no training.

    yolo12l check-data --format coco --annotations instances_val2017.json --images val2017
    yolo12l check-data --format voc  --root VOCdevkit/VOC2007 --split train
    yolo12l check-data --format yolo --data coco128.yaml --split val

Exit status 0 when the split has at least one usable image, 1 when it has none (or cannot be read).
The annotation cache is not used: the files are parsed afresh. ``--full`` decodes every image.
"""
from __future__ import annotations

import argparse
import sys

from .coco import parse_coco
from .records import NoUsableDataError, ParsedSplit
from .voc import parse_voc
from .yolo_txt import parse_yolo


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yolo12l check-data", description=__doc__.split("\n")[0])
    p.add_argument("--format", required=True, choices=("coco", "voc", "yolo"))
    p.add_argument("--annotations", help="COCO instances JSON")
    p.add_argument("--images", help="COCO image folder")
    p.add_argument("--root", action="append", help="VOC year folder (VOCdevkit/VOC2007); repeat to combine")
    p.add_argument("--data", help="YOLO dataset YAML")
    p.add_argument("--split", default="train", help="VOC ImageSets/Main split or YOLO YAML key (default train)")
    p.add_argument("--class-names", help="VOC: comma-separated class list (default: the 20 VOC classes)")
    p.add_argument("--keep-difficult", action="store_true", help="VOC: keep difficult boxes")
    p.add_argument("--full", action="store_true", help="decode every image instead of the cheap header check")
    p.add_argument("--max-files", type=int, default=None, help="list at most this many files per problem kind")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also list the files of info kinds (background images, conversions, EXIF rotation...)")
    return p


def _parse(args: argparse.Namespace, p: argparse.ArgumentParser) -> ParsedSplit:
    verify = "full" if args.full else "header"
    if args.format == "coco":
        if not (args.annotations and args.images):
            p.error("--format coco needs --annotations and --images")
        return parse_coco(args.annotations, args.images, verify=verify)
    if args.format == "voc":
        if not args.root:
            p.error("--format voc needs --root")
        names = [n.strip() for n in args.class_names.split(",")] if args.class_names else None
        return parse_voc([(r, args.split) for r in args.root], names, keep_difficult=args.keep_difficult,
                         verify=verify)
    if not args.data:
        p.error("--format yolo needs --data")
    return parse_yolo(args.data, args.split, verify=verify)


def main(argv: list[str] | None = None) -> int:
    """Runs the check; returns the exit status (0 usable, 1 nothing usable)."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        parsed = _parse(args, p)
    except NoUsableDataError as e:
        print(f"yolo12l check-data: error: {e}", file=sys.stderr)
        return 1
    rep = parsed.report
    print(rep.summary(list_files=True, max_files=args.max_files, include_info=args.verbose))
    if not parsed.records:
        print(f"yolo12l check-data: error: no usable image in {rep.name}", file=sys.stderr)
        return 1
    print(f"{'OK' if rep.num_boxes else 'WARNING'}: {rep.num_images} usable images, {rep.num_boxes} boxes, "
          f"{len(parsed.class_names)} classes; {len(rep.problems)} problem(s) in "
          f"{len(set(i.file for i in rep.problems))} file(s)")
    if not rep.num_boxes:
        print(f"WARNING: {rep.name}: not one box in {rep.num_images} images (empty or missing 'annotations' / label "
              "files?): `yolo12l fit` refuses such a training split; as a val / test split its mAP is undefined")
    return 0


if __name__ == "__main__":
    sys.exit(main())
