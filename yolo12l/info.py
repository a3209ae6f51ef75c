"""``yolo12l info``: a model's layers, parameters and GFLOPs.

    yolo12l info --model yolo12s.yaml --imgsz 640          # one size, or --imgsz 384 640 (height width)
    yolo12l info --model runs/…/last.ckpt                  # any weights file predict reads (.ckpt, .pt, state dict)

Prints one row per YAML layer (index, from, parameters, GFLOPs, block type) and a summary line. FLOPs are
counted by ``torch.utils.flop_counter`` (see :mod:`yolo12l.models.flops` for what is included).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ConfigError
from .models import build_model
from .models.flops import count_flops, to_meta

YAML_SUFFIXES = (".yaml", ".yml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yolo12l info",
                                description="Layers, parameters and GFLOPs of a model YAML or a checkpoint.")
    p.add_argument("--model", default="yolo12n.yaml",
                   help="model YAML name or path, or a weights file: yolo12l .ckpt, Ultralytics / YOLOv12 .pt, "
                        "state dict (default yolo12n.yaml)")
    p.add_argument("--scale", default=None, help="scale letter overriding the one in the name (YAML only)")
    p.add_argument("--nc", type=int, default=None, help="number of classes, >= 1 (default: the YAML's; YAML only)")
    p.add_argument("--imgsz", type=int, nargs="+", default=None,
                   help="input size: S or H W (multiples of 32; default: a checkpoint's training size, else 640)")
    p.add_argument("--quiet", action="store_true", help="only the summary line")
    return p


def _load(args: argparse.Namespace) -> tuple[object, str, int | None]:
    """(network, its description, training size or None) from a YAML or a weights file."""
    path = Path(args.model)
    if path.suffix.lower() in YAML_SUFFIXES or not path.is_file():
        return build_model(args.model, scale=args.scale, nc=args.nc), args.model.rsplit("/", 1)[-1].removesuffix(
            ".yaml"), None
    if args.scale is not None or args.nc is not None:
        raise ConfigError(f"{path}: a weights file records its own scale and classes (--scale / --nc apply to a "
                          "model YAML)")
    from .interop import load_network

    net, info = load_network(path)
    kind = info["format"] + (f" {info['variant']}" if info.get("variant") else "")
    return net, f"{path.name} ({kind} checkpoint)", info.get("imgsz")


def main(argv: list[str] | None = None) -> int:
    """``yolo12l info``; user mistakes raise :class:`~yolo12l.errors.UserError` (one line, exit 2)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.nc is not None and args.nc < 1:
        raise ConfigError(f"invalid --nc {args.nc}: must be >= 1")
    if args.imgsz is not None and (len(args.imgsz) not in (1, 2) or any(s <= 0 or s % 32 for s in args.imgsz)):
        raise ConfigError(f"invalid --imgsz {args.imgsz}: one or two positive multiples of 32")
    net, stem, trained = _load(args)
    imgsz = args.imgsz or [trained or 640]
    h, w = (imgsz[0], imgsz[0]) if len(imgsz) == 1 else imgsz
    flops = count_flops(to_meta(net), (h, w))  # shapes only: instant at any size
    if not args.quiet:
        print(f"{'':>3} {'from':>14} {'n':>3} {'params':>11} {'GFLOPs':>8}  module")
        for m in net.model:
            print(f"{m.i:>3} {str(m.f):>14} {m.np:>11,} {flops.by_layer.get(m.i, 0) / 1e9:>8.3f}  {m.type}")
    g = flops.by_group
    print(f"{stem} (scale {net.scale}, nc {net.nc}): {len(net.model)} layers, {sum(1 for _ in net.modules())} "
          f"modules, {net.num_params():,} parameters, {flops.gflops:.2f} GFLOPs at {h}x{w} "
          f"(convolutions {g['convolution'] / 1e9:.2f} + attention matmuls {g['matmul'] / 1e9:.2f}"
          + (f" + other {g['other'] / 1e9:.2f}" if g["other"] else "") + ")"
          + (f"; trained at {trained}" if trained else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
