"""The sliced-inference options of the command line, shared by ``predict --weights`` and the LightningCLI commands
(``predict --config``, ``validate``, ``test``): ``--slice S [--overlap 0.2] [--full-image] [--merge nmm|nms]
[--match-metric ios|iou] [--match-thres 0.5]``.

In the ``--weights`` form they are argparse options; for the LightningCLI they are shorthand for the model's
``--model.slicing.*`` keys (:func:`lightning_slice_argv` rewrites them, after checking them, so a mistake names the
option the user typed). The values are checked by the rules of :data:`yolo12l.config_checks.SLICE_RULES`.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..config_checks import check_slice_args
from ..errors import ConfigError
from .slicing import SliceConfig

__all__ = ["SLICE_FLAGS", "add_slice_arguments", "slice_config", "lightning_slice_argv"]

# option -> SliceConfig field
SLICE_FLAGS = {"--slice": "slice_size", "--overlap": "overlap", "--full-image": "full_image", "--merge": "merge",
               "--match-metric": "match_metric", "--match-thres": "match_thres"}
_NAMES = {key: f"invalid {flag}" for flag, key in SLICE_FLAGS.items()}


def add_slice_arguments(ap: argparse.ArgumentParser) -> None:
    """Adds the sliced-inference options (all default to None: "not given")."""
    g = ap.add_argument_group("sliced inference (small objects on large images; docs/small_objects.md)")
    g.add_argument("--slice", type=int, default=None, metavar="S",
                   help="cut every image into overlapping S x S-pixel slices of the original, each run at --imgsz, "
                        "and merge the detections (default: off, the whole image at --imgsz)")
    g.add_argument("--overlap", type=float, default=None, help="slice overlap, a fraction of S in [0, 1) "
                                                               "(default 0.2)")
    g.add_argument("--full-image", action="store_true", default=None,
                   help="also run each whole image once and merge its detections in")
    g.add_argument("--merge", default=None, help="merging across slices: nmm (greedy non-maximum merging, SAHI's "
                                                 "default) or nms (default nmm)")
    g.add_argument("--match-metric", default=None, help="ios (intersection over the smaller box) or iou "
                                                        "(default ios)")
    g.add_argument("--match-thres", type=float, default=None, help="boxes match above this metric, 0..1 "
                                                                   "(default 0.5)")


def slice_config(args: argparse.Namespace) -> SliceConfig | None:
    """The :class:`SliceConfig` of parsed options, or None without ``--slice``; ConfigError naming the option
    (also for a slicing option given without ``--slice``)."""
    given = {key: getattr(args, key if key != "slice_size" else "slice") for key in SLICE_FLAGS.values()}
    given = {k: v for k, v in given.items() if v is not None}
    if "slice_size" not in given:
        if given:
            flags = [f for f, k in SLICE_FLAGS.items() if k in given]
            raise ConfigError(f"invalid {flags[0]}: it sets sliced inference, which needs --slice S (the slice "
                              "size in pixels, e.g. --slice 640)")
        return None
    check_slice_args(given, names=_NAMES)
    return SliceConfig(**given)


def lightning_slice_argv(argv: Sequence[str]) -> list[str]:
    """A LightningCLI command line with the slicing options replaced by the ``--model.slicing.*`` keys they stand
    for (checked first: ConfigError naming the option). Other arguments are kept in order."""
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    add_slice_arguments(ap)
    try:
        args, rest = ap.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"invalid {exc.argument_name}: {exc.message}") from exc
    cfg = slice_config(args)
    if cfg is None:
        return list(rest)
    return [*rest, *(f"--model.slicing.{key}={str(value).lower() if isinstance(value, bool) else value}"
                     for key, value in cfg.options().items())]
