"""``yolo12l export --weights W --format onnx [--imgsz H [W]] [--nms] [--dynamic|--static] [--opset N]
[--out PATH]``: loads the weights (:func:`yolo12l.interop.load_network`, every kind ``predict`` reads), exports,
prints the summary. The export size defaults to the checkpoint's training size (640 when the file records none)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CheckpointError
from ..interop import load_network
from .onnx import MIN_OPSET, export_onnx, max_opset

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="yolo12l export",
        description="Export a yolo12l .ckpt or an Ultralytics .pt to ONNX. The graph takes float32 RGB images "
                    "scaled to 0..1, (B, 3, H, W) at the export size.")
    p.add_argument("--weights", required=True, type=Path, help="yolo12l Lightning .ckpt or Ultralytics .pt")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default: onnx)")
    p.add_argument("--imgsz", type=int, nargs="+", default=None, metavar="SIZE",
                   help="input size: S (square) or H W, multiples of 32 (default: the checkpoint's training size, "
                        "else 640)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the example (the fixed one with --static)")
    dyn = p.add_mutually_exclusive_group()
    dyn.add_argument("--dynamic", dest="dynamic", action="store_true", default=True,
                     help="dynamic batch axis (default)")
    dyn.add_argument("--static", dest="dynamic", action="store_false", help="fixed batch size")
    p.add_argument("--nms", action="store_true",
                   help="append NMS: outputs num_dets, boxes (xyxy), scores, classes, at most --max-det per image")
    p.add_argument("--conf", type=float, default=0.25, help="NMS score threshold (keep score > conf)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (suppress IoU > iou)")
    p.add_argument("--max-det", type=int, default=300, help="NMS: detections per image at most")
    p.add_argument("--opset", type=int, default=MIN_OPSET,
                   help=f"ONNX opset, {MIN_OPSET}..{max_opset()} (default {MIN_OPSET})")
    p.add_argument("--simplify", action="store_true",
                   help="simplify the graph (onnxsim when installed, else onnxruntime basic optimisations)")
    p.add_argument("--out", default=None,
                   help="output file, or a directory to write <weights name>.onnx into (default: next to the "
                        "weights, with .onnx)")
    return p


def _error(message: str, status: int = 2) -> int:
    print(f"yolo12l export: error: {message}", file=sys.stderr)
    return status


def output_path(weights: Path, out: str | None) -> Path:
    """``--out``: a file, or an existing directory / a path ending in '/' that gets ``<weights stem>.onnx``."""
    if out is None:
        return weights.with_suffix(".onnx")
    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        return path / f"{weights.stem}.onnx"
    return path


def main(argv: list[str] | None = None) -> int:
    """Runs the export command; returns the exit status (0 ok, 1 the export failed, 2 unusable input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        argv = argv[1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return int(exc.code or 0)
    if args.imgsz is not None and len(args.imgsz) > 2:
        return _error(f"--imgsz takes one or two sizes, got {args.imgsz}")
    out = output_path(args.weights, args.out)
    try:
        net, info = load_network(args.weights)
    except CheckpointError as exc:  # the input file (missing, foreign, unsafe, another architecture)
        return _error(str(exc))
    if args.imgsz is None:
        args.imgsz = [info.get("imgsz") or 640]
        source = "the checkpoint's training size" if info.get("imgsz") else "the default; the file records none"
        print(f"export size {args.imgsz[0]} ({source})")
    try:
        summary = export_onnx(net, out, imgsz=args.imgsz, batch=args.batch, dynamic=args.dynamic, nms=args.nms,
                              opset=args.opset, conf=args.conf, iou=args.iou, max_det=args.max_det,
                              simplify=args.simplify)
    except ValueError as exc:  # an export setting that cannot be used (size, opset…)
        return _error(str(exc))
    except (OSError, RuntimeError) as exc:
        return _error(f"export failed: {exc}", 1)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
