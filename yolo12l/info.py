"""``yolo12l info``: a model's layers, parameters and GFLOPs.

    yolo12l info --model yolo12s.yaml --imgsz 640          # one size, or --imgsz 384 640 (height width)

Prints one row per YAML layer (index, from, parameters, GFLOPs, block type) and a summary line. FLOPs are
counted by ``torch.utils.flop_counter`` (see :mod:`yolo12l.models.flops` for what is included).
"""
from __future__ import annotations

import argparse
import sys

from .models import build_model
from .models.flops import count_flops, to_meta


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yolo12l info", description="Layers, parameters and GFLOPs of a model YAML.")
    p.add_argument("--model", default="yolo12n.yaml", help="model YAML name or path (default yolo12n.yaml)")
    p.add_argument("--scale", default=None, help="scale letter overriding the one in the name")
    p.add_argument("--nc", type=int, default=None, help="number of classes (default: the YAML's)")
    p.add_argument("--imgsz", type=int, nargs="+", default=[640], help="input size: S or H W (multiples of 32)")
    p.add_argument("--quiet", action="store_true", help="only the summary line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if len(args.imgsz) not in (1, 2) or any(s <= 0 or s % 32 for s in args.imgsz):
        print(f"yolo12l info: error: --imgsz must be one or two positive multiples of 32, got {args.imgsz}",
              file=sys.stderr)
        return 2
    h, w = (args.imgsz[0], args.imgsz[0]) if len(args.imgsz) == 1 else args.imgsz
    try:
        net = build_model(args.model, scale=args.scale, nc=args.nc)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"yolo12l info: error: {err}", file=sys.stderr)
        return 2
    flops = count_flops(to_meta(net), (h, w))  # shapes only: instant at any size
    if not args.quiet:
        print(f"{'':>3} {'from':>14} {'n':>3} {'params':>11} {'GFLOPs':>8}  module")
        for m in net.model:
            print(f"{m.i:>3} {str(m.f):>14} {m.np:>11,} {flops.by_layer.get(m.i, 0) / 1e9:>8.3f}  {m.type}")
    stem = args.model.rsplit("/", 1)[-1].removesuffix(".yaml")
    g = flops.by_group
    print(f"{stem} (scale {net.scale}, nc {net.nc}): {len(net.model)} layers, {sum(1 for _ in net.modules())} "
          f"modules, {net.num_params():,} parameters, {flops.gflops:.2f} GFLOPs at {h}x{w} "
          f"(convolutions {g['convolution'] / 1e9:.2f} + attention matmuls {g['matmul'] / 1e9:.2f}"
          + (f" + other {g['other'] / 1e9:.2f}" if g["other"] else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
