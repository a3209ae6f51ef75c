"""``yolo12l predict --weights W --source S``: annotated images / videos + ``predictions.json``.

Every argument is checked before the weights are read (one line ``yolo12l predict: error: …``, exit 2); the
weights come from :func:`yolo12l.interop.load_network` (any kind), the detections from
:mod:`yolo12l.inference.run`, the JSON from :mod:`yolo12l.inference.results`, the drawings from
:mod:`yolo12l.inference.draw`. The other form, ``yolo12l predict --config C --ckpt_path K``, is the LightningCLI;
its :class:`~yolo12l.training.prediction_writer.DetectionWriter` uses the same steps (same bytes).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

from ..allocator import retain_freed_memory
from ..data.images import ImageLoadError, probe_image, read_image, unique_names
from ..errors import ConfigError, UserError
from ..interop import load_network
from .draw import VideoSink, save_annotated
from .results import next_run_dir, write_predictions
from .progress import Progress
from .run import check_imgsz, iter_predictions, prepare, run_inputs
from .slice_options import add_slice_arguments, slice_config
from .slicing import SliceConfig, default_workers, predict_sliced, slice_grid
from .source import iter_frames, list_sources, video_info

__all__ = ["USAGE", "build_parser", "main"]

log = logging.getLogger(__name__)

USAGE = """\
yolo12l predict has two forms:

  yolo12l predict --weights W --source S [--imgsz N] [--conf C] [--classes 0 2] [--out DIR] ...
      any weights file (a yolo12l .ckpt, an Ultralytics / YOLOv12 .pt, a state dict) on images, folders, globs
      or videos; writes annotated images / videos and predictions.json to runs/predict, runs/predict2, ...
      --slice S [--overlap 0.2] [--full-image] [--merge nmm|nms] [--match-metric ios|iou] [--match-thres 0.5]:
      sliced inference for small objects on large images (also in the second form and in validate / test)

  yolo12l predict --config configs/….yaml --ckpt_path last.ckpt --data.init_args.predict_source S
      the LightningCLI (yolo12l predict --config C --help lists its options); writes
      <default_root_dir>/predict (then predict2, ...)/predictions.json and images/ — the same predictions as the
      first form
"""
NOT_WEIGHTS = (".json", ".yaml", ".yml", ".txt", ".csv", ".onnx", ".jpg", ".jpeg", ".png", ".mp4")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="yolo12l predict", usage=argparse.SUPPRESS, description=USAGE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="yolo12l .ckpt, Ultralytics / YOLOv12 .pt or a state dict")
    ap.add_argument("--source", required=True,
                    help="an image, a video, a folder (searched recursively for both) or a glob pattern")
    ap.add_argument("--imgsz", type=int, default=None,
                    help="inference size (longest side), multiple of 32 (default: the checkpoint's training size, "
                         "else 640)")
    ap.add_argument("--conf", type=float, default=0.25, help="confidence threshold, 0..1 (default 0.25)")
    ap.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold, 0..1 (default 0.7)")
    ap.add_argument("--max-det", type=int, default=300, help="maximum detections per image (default 300)")
    ap.add_argument("--classes", type=int, nargs="+", default=None, metavar="K",
                    help="keep only these class indices (e.g. --classes 0 2)")
    ap.add_argument("--batch", type=int, default=None,
                    help="images (or video frames) per forward pass (default 1); with --slice: slices per forward "
                         "pass (default 8)")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader processes decoding and letterboxing images (default: 0 — in this process — on "
                         "≤ 2 cores, else 1 with a batch of 1, else 2)")
    ap.add_argument("--vid-stride", type=int, default=1, help="predict every n-th video frame (default 1)")
    ap.add_argument("--out", default=None,
                    help="output folder (default: runs/predict, then runs/predict2, ... — a new one per run)")
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    ap.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                    help="torch (fused network) or onnxruntime (exported once per weights and size, cached next to "
                         "the weights; letterboxes to imgsz × imgsz)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (for GPUs; compiling takes "
                                                           "a while, so it pays off on many images)")
    ap.add_argument("--half", action="store_true", help="float16 on CUDA")
    ap.add_argument("--no-images", action="store_true", help="write predictions.json only")
    ap.add_argument("--quiet", action="store_true", help="no per-image lines")
    add_slice_arguments(ap)
    return ap


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise ConfigError(f"invalid --device {text!r}: not a torch device (cpu, cuda, cuda:1, mps)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"invalid --device {text}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"invalid --device {text}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"invalid --device {text}: MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"invalid --device {text}: unsupported device type {device.type!r} (cpu, cuda, mps)")
    return device


def check_args(args: argparse.Namespace) -> None:
    """Every value that can be wrong without reading a file: ConfigError / UserError naming it."""
    if not 0 <= args.conf <= 1:
        raise ConfigError(f"invalid --conf {args.conf}: must be in 0..1")
    if not 0 <= args.iou <= 1:
        raise ConfigError(f"invalid --iou {args.iou}: must be in 0..1")
    if args.max_det < 1:
        raise ConfigError(f"invalid --max-det {args.max_det}: must be >= 1")
    if args.batch is not None and args.batch < 1:
        raise ConfigError(f"invalid --batch {args.batch}: must be >= 1")
    args.slicing = slice_config(args)
    if args.batch is None:
        args.batch = 8 if args.slicing is not None else 1
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"invalid --workers {args.workers}: must be >= 0")
    if args.vid_stride < 1:
        raise ConfigError(f"invalid --vid-stride {args.vid_stride}: must be >= 1")
    if args.classes is not None and any(k < 0 for k in args.classes):
        raise ConfigError(f"invalid --classes {args.classes}: class indices are >= 0")
    if args.imgsz is not None:
        args.imgsz = check_imgsz(args.imgsz)
    args.device = _device(args.device)
    if args.half and args.device.type != "cuda":
        raise ConfigError("invalid --half: float16 needs a CUDA device")
    weights = Path(args.weights)
    if weights.suffix.lower() in NOT_WEIGHTS:
        raise UserError(f"invalid --weights {weights}: a {weights.suffix} file is not a weights file (expected a "
                        f"yolo12l .ckpt or an Ultralytics / YOLOv12 .pt)")
    if not weights.is_file():
        raise UserError(f"invalid --weights {weights}: " + ("a folder, not a weights file" if weights.is_dir()
                                                             else "no such file"))
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"invalid --out {args.out}: an existing file, not a folder")


def _summary(classes: torch.Tensor, names: dict[int, str]) -> str:
    """``2 persons, 1 car`` (counts by class index) or ``(no detections)``."""
    if not classes.numel():
        return "(no detections)"
    ids, counts = classes.unique(return_counts=True)
    return ", ".join(f"{n} {names.get(int(c), str(int(c)))}{'s' * (n > 1)}" for c, n in zip(ids.tolist(),
                                                                                       counts.tolist()))


def _build_model(args: argparse.Namespace, net: nn.Module) -> Callable:
    if args.backend == "onnxruntime":
        from ..export.ort_runtime import OnnxRuntimeModel

        return OnnxRuntimeModel(args.weights, net, (args.imgsz, args.imgsz), device=str(args.device))
    net = net.fuse().to(args.device)
    if args.half:
        net = net.half()
    if args.compile:
        net = torch.compile(net, mode="reduce-overhead" if args.device.type == "cuda" else None)
    return net


class _Run:
    """One predict run's outputs: the per-image lines, the drawings (in a writer thread when a core is free) and
    the collected predictions."""

    def __init__(self, args: argparse.Namespace, names: dict[int, str], out: Path):
        self.args, self.names, self.out = args, names, out
        self.preds: list[dict[str, Any]] = []
        self.totals = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        self.shape: tuple[int, ...] | None = None
        # a writer thread draws and saves while the network runs, when a core is free for it; when torch's threads
        # take every core it would stall them (each parallel region waits for a descheduled thread: measured
        # 469 ms against 103 ms per image on 2 cores), so images are then saved in this thread, between forwards
        background = torch.get_num_threads() < (os.cpu_count() or 1)
        self.writer = ThreadPoolExecutor(max_workers=1) if not args.no_images and background else None
        self.pending: list[Any] = []
        self.next_index = 0  # video frames are numbered after the images

    def add(self, p: dict[str, Any], line: str) -> None:
        for key in self.totals:
            self.totals[key] += p["ms"][key]
        self.shape = p["input_shape"]
        if not self.args.quiet:
            h, w = p["input_shape"][2:]
            size = f"{p['input_shape'][0]} slices at {h}x{w}" if self.args.slicing is not None else f"{h}x{w}"
            print(f"{line}: {size} {_summary(p['classes'], self.names)}, {p['ms']['inference']:.1f}ms", flush=True)
        image = p.pop("image", None)
        if image is not None and "frame" not in p:
            if self.writer is not None:
                self.pending.append(self.writer.submit(save_annotated, image, dict(p), self.names,
                                                       self.out / p["file_name"]))
            else:
                save_annotated(image, p, self.names, self.out / p["file_name"])
        self.preds.append(p)
        self.next_index = max(self.next_index, int(p["index"]) + 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.shutdown(wait=True)
        for f in self.pending:
            f.result()  # re-raises what drawing raised (writing errors are already warnings)


def _predict_video(run: _Run, model: Callable, path: Path, name: str, k: int, n: int) -> None:
    args = run.args
    info = video_info(path)
    sink = None if args.no_images else VideoSink(run.out / Path(name).with_suffix(".mp4"),
                                                 info["fps"] / args.vid_stride, (info["width"], info["height"]))
    frames = iter_frames(path, args.vid_stride)
    total = info["frames"] or "?"
    try:
        while True:
            chunk = [f for _, f in zip(range(args.batch), frames)]
            if not chunk:
                break
            if args.slicing is not None:
                dets = [sliced_record(model, image, args) for _, image in chunk]
            else:
                inputs = [prepare(image, args.imgsz, square=args.backend == "onnxruntime") for _, image in chunk]
                dets = run_inputs(model, [x for x, _ in inputs], [rp for _, rp in inputs],
                                  [image.shape[:2] for _, image in chunk], conf=args.conf, iou=args.iou,
                                  max_det=args.max_det, classes=args.classes, device=args.device,
                                  dtype=torch.float16 if args.half else torch.float32)
            for (index, image), d in zip(chunk, dets):
                d["ms"] = {"preprocess": d["ms"]["transfer"], "inference": d["ms"]["inference"],
                           "postprocess": d["ms"]["postprocess"]}
                if sink is not None:
                    sink.write(image, d, run.names)
                run.add({**d, "path": str(path), "file_name": name, "frame": index, "index": run.next_index},
                        f"video {k}/{n} (frame {index + 1}/{total}) {path}")
    finally:
        if sink is not None:
            sink.close()


def slice_workers(args: argparse.Namespace) -> int:
    """Batches of slices computed at once with ``--slice``: on CPU with the torch backend one per torch thread, each
    on one thread (:func:`~yolo12l.inference.slicing.predict_sliced`'s ``workers``: no waiting at every layer's
    parallel region; ``OMP_NUM_THREADS=1`` gives one); 1 on a GPU, with ONNX Runtime (its own threads) or a
    compiled network."""
    return default_workers(args.device) if args.backend == "torch" and not args.compile else 1


def sliced_record(model: Callable, image: Any, args: argparse.Namespace,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """One image (H, W, 3) uint8 RGB through :func:`~yolo12l.inference.slicing.predict_sliced` with the command's
    options → the record :func:`iter_predictions` gives (``boxes``, ``scores``, ``classes``, ``input_shape`` =
    (slices, 3, imgsz, imgsz), ``ms``: the whole sliced run counted as inference)."""
    cfg: SliceConfig = args.slicing
    t0 = time.perf_counter()
    det = predict_sliced(model, [image], imgsz=args.imgsz, conf=args.conf, iou=args.iou, batch_size=args.batch,
                         max_det=args.max_det, classes=args.classes, progress=progress, workers=slice_workers(args),
                         **cfg.options())[0]
    k = len(slice_grid(*image.shape[:2], cfg.slice_size, cfg.overlap)) + int(cfg.full_image)
    return {"boxes": det[:, :4], "scores": det[:, 4], "classes": det[:, 5].long(),
            "input_shape": (k, 3, args.imgsz, args.imgsz),
            "ms": {"preprocess": 0.0, "inference": 1e3 * (time.perf_counter() - t0), "postprocess": 0.0}}


def _count_slices(paths: list[Path], cfg: SliceConfig) -> int:
    """Slices of all images (header sizes; an unreadable image counts none)."""
    total = 0
    for path in paths:
        try:
            info = probe_image(path)
        except ImageLoadError:
            continue
        total += len(slice_grid(info.height, info.width, cfg.slice_size, cfg.overlap)) + int(cfg.full_image)
    return total


def _iter_sliced(model: Callable, images: list[Path], args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """:func:`iter_predictions`' records for ``--slice``: one image at a time (its slices batched by
    ``--batch``), with a progress bar over all slices (one line every few seconds when not on a terminal)."""
    bar = Progress(_count_slices(images, args.slicing), "slices", enabled=True)
    names = unique_names(images)
    try:
        for i, path in enumerate(images):
            try:
                image = read_image(path)
            except OSError as exc:
                yield {"index": i, "path": str(path), "error": str(exc)}
                continue
            seen = [0]

            def step(done: int, total: int, seen: list[int] = seen) -> None:
                bar.update(done - seen[0])
                seen[0] = done

            record = sliced_record(model, image, args, step)
            yield {**record, "index": i, "path": str(path), "file_name": names[i], "orig_shape": image.shape[:2],
                   **({} if args.no_images else {"image": image})}
    finally:
        bar.close()


def main(argv: list[str] | None = None) -> int:
    """``yolo12l predict --weights/--source``; returns the exit status (0 ok, 1 no usable image); user mistakes
    raise :class:`~yolo12l.errors.UserError` (one line, exit 2, printed by :func:`yolo12l.cli.run_command`)."""
    args = build_parser().parse_args(argv)
    check_args(args)
    images, videos = list_sources(args.source)
    if args.out is not None:
        out_resolved = Path(args.out).resolve()
        images = [p for p in images if out_resolved not in p.resolve().parents]
        videos = [p for p in videos if out_resolved not in p.resolve().parents]
    if not images and not videos:
        raise UserError(f"invalid --source {args.source}: no images or videos found")
    retain_freed_memory()  # no page faults on every image's activations (see yolo12l.allocator)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    net, info = load_network(args.weights)
    names = dict(net.names)
    if args.classes is not None and max(args.classes) >= net.nc:
        raise ConfigError(f"invalid --classes {args.classes}: the model has {net.nc} classes (0..{net.nc - 1})")
    if args.imgsz is None:
        args.imgsz = check_imgsz(info.get("imgsz") or 640)
    model = _build_model(args, net)
    out = Path(args.out) if args.out is not None else next_run_dir("runs/predict")
    out.mkdir(parents=True, exist_ok=True)
    workers = args.workers
    if workers is None:
        # on two cores a worker only competes with the network for CPU (measured: 11.4 s against 9.8 s for 32
        # COCO128 images); with more cores it decodes the next images while the network runs
        workers = 0 if (os.cpu_count() or 1) <= 2 else 1 if args.batch == 1 else 2
    workers = min(workers, len(images))
    run, failed = _Run(args, names, out), 0
    try:
        records = (_iter_sliced(model, images, args) if args.slicing is not None else
                   iter_predictions(model, images, args.imgsz, args.conf, args.iou, args.max_det, batch=args.batch,
                                    workers=workers, square=args.backend == "onnxruntime",
                                    keep_images=not args.no_images, classes=args.classes, device=args.device,
                                    half=args.half))
        for p in records:
            if "error" in p:
                failed += 1
                log.warning("skipping unreadable image %s (%d so far): %s", p["path"], failed, p["error"])
                continue
            run.add(p, f"image {p['index'] + 1}/{len(images)} {p['path']}")
        run.next_index = len(images)  # frame ids follow the images' positions
        for k, (path, name) in enumerate(zip(videos, unique_names(videos)), 1):
            try:
                _predict_video(run, model, path, name, k, len(videos))
            except OSError as exc:  # a video OpenCV cannot open: counted, the others still run
                failed += 1
                log.warning("skipping unreadable video %s (%d so far): %s", path, failed, exc)
    finally:
        run.close()
    if failed:
        log.warning("%d of %d inputs could not be read", failed, len(images) + len(videos))
    path, count = write_predictions(run.preds, out, info.get("category_ids"))
    if run.preds:
        n = len(run.preds)
        t = run.totals
        print(f"Speed: {t['preprocess'] / n:.1f}ms preprocess, {t['inference'] / n:.1f}ms inference, "
              f"{t['postprocess'] / n:.1f}ms postprocess per image at shape {run.shape}")
    frames = sum("frame" in p for p in run.preds)
    counts = [(len(run.preds) - frames, "images"), (frames, "video frames")]
    what = ", ".join(f"{n} {label}" for n, label in counts if n or (label == "images" and not frames))
    print(f"{what}, {count} detections -> {path}" + (f" ({failed} unreadable inputs skipped)" if failed else ""))
    return 0 if run.preds else 1


if __name__ == "__main__":
    sys.exit(main())
