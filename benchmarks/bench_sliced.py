"""Small objects on large images: full-image vs sliced prediction with the same weights, and yolo12l's sliced core
(:func:`yolo12l.inference.slicing.predict_sliced`) against SAHI's ``get_sliced_prediction`` (model type
``ultralytics``) with the same Ultralytics checkpoint, slice size, overlap, confidence and merge (not a test).

Runs in the Ultralytics venv, which has ultralytics and sahi (scripts/setup_ultralytics.sh; the runner switches to
``$YOLO12L_UL_PYTHON``); without sahi only
yolo12l's rows are made:

    python -m benchmarks bench_sliced \
        [--weights W.pt] [--images 4] [--slice 320] [--overlap 0.2] [--imgsz 640] [--conf 0.1] \
        [--out benchmarks/results/bench_sliced-default.json]

Data: the built-in tiny-objects set (:func:`yolo12l.data.synthetic_tiny.tiny_objects_dataset`: 1600 x 1600 images,
8-48 px circles, squares, triangles), the first ``--images`` validation images. Weights: by default the real
Ultralytics checkpoint ``reference/ultralytics/yolo12n_shapes_ultralytics.pt`` (yolo12n trained on the large-object
shapes set at imgsz 256, the same three classes), used as it is: letterboxed whole to 640 the objects are 3-19 px,
a 320-px slice at 640 shows them at 16-96 px, the sizes it was trained on.

Rows (mAP by yolo12l.metrics' COCO evaluation on the original annotations, areas in original pixels):

* ``full``: each image letterboxed whole to ``--imgsz`` (one 1600-px "slice");
* ``sliced``: yolo12l's sliced core, greedy NMM by IoS 0.5, ``--batch`` slices in flight, as ``yolo12l predict
  --slice`` runs it on the condition's threads: a worker per torch thread, each on one thread (``workers``);
* ``sliced_intraop`` (2 threads): one worker on both threads (torch's intra-op parallelism, the way before workers);
* ``sliced+full``: the same with the full-image pass merged in;
* ``sahi_b1`` / ``sahi_b8``: SAHI, same options (``perform_standard_pred=False``, ``GREEDYNMM``, ``IOS``, 0.5,
  class-aware; ``force_postprocess_type`` so that it does not switch to NMS below conf 0.1), ``batch_size`` 1 (its
  default) and 8.

Times: per image, from the decoded RGB array to the merged detections (decoding excluded on both sides), the
sides alternating image by image in one process, under each ``--conditions`` entry (torch intra-op threads of
yolo12l / of SAHI, set with ``torch.set_num_threads`` before each side's image):

* ``default``: each library as it runs by itself: yolo12l with torch's default threads (``yolo12l predict`` sets
  none: one per core), SAHI with what Ultralytics' ``select_device`` sets on its first prediction (``cpu_count - 1``,
  capped at 8: one on a 2-core machine);
* ``threads1`` / ``threads2``: both sides with 1 / 2 threads.

Wall and process CPU seconds (all threads; on one thread it barely changes with other processes' load, wall time
does). Every time is split into the network's forward (a timing wrapper around yolo12l's ``run``; forward hooks on the
Ultralytics ``AutoBackend`` that SAHI's predictor calls) and the rest (slicing, letterboxing, conversion,
postprocess, merging; SAHI: its Python per-slice objects too). A ``forward`` section times the two networks alone
on the first image's real slices: yolo12l's fused network at batch 1 / 2 / 4 / 8 against Ultralytics' fused
``AutoBackend`` at batch 1 (what SAHI's default runs), per image, alternating, under each condition; with 2
threads also yolo12l in 2 workers of one thread (batches of 4). The process
keeps freed memory in the heap (``retain_freed_memory``, as ``yolo12l predict`` does; it applies to both sides).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import Stopwatch, load_average, median
from yolo12l import load_ultralytics_checkpoint
from yolo12l.allocator import retain_freed_memory
from yolo12l.data.letterbox import letterbox
from yolo12l.data.synthetic_tiny import TINY_CLASSES, tiny_objects_dataset
from yolo12l.inference.slicing import predict_sliced, slice_grid
from yolo12l.metrics.coco_map import coco_evaluate
from yolo12l.metrics.detection_state import DetectionData

SHARED = shared_dir()
CKPT = SHARED / "reference" / "ultralytics" / "yolo12n_shapes_ultralytics.pt"
KEYS = ("mAP50-95", "mAP50", "mAP_small", "mAP_medium")


def _targets(gt: dict) -> list[dict]:
    out = []
    for im in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float64).view(-1, 4)
        out.append({"boxes": torch.cat((xywh[:, :2], xywh[:, :2] + xywh[:, 2:]), 1),
                    "labels": torch.tensor([a["category_id"] - 1 for a in anns]), "image_id": im["id"],
                    "area": torch.tensor([a["area"] for a in anns], dtype=torch.float64),
                    "orig_shape": (im["height"], im["width"])})
    return out


def _evaluate(dets: list[torch.Tensor], targets: list[dict]) -> dict[str, float]:
    preds = [{"boxes": d[:, :4].double(), "scores": d[:, 4].double(), "labels": d[:, 5].long()} for d in dets]
    r = coco_evaluate(DetectionData.from_lists(preds, targets), num_classes=len(TINY_CLASSES))
    return {k: round(float(r[k]), 4) for k in KEYS}


def _sahi_model(weights: Path, conf: float, imgsz: int):
    try:
        from sahi import AutoDetectionModel
        from sahi.predict import get_sliced_prediction
    except ImportError:
        return None, None
    model = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=str(weights),
                                               confidence_threshold=conf, image_size=imgsz, device="cpu")
    return model, get_sliced_prediction


def _sahi_dets(result) -> torch.Tensor:
    rows = [[*p.bbox.to_xyxy(), p.score.value, p.category.id] for p in result.object_prediction_list]
    return torch.tensor(rows, dtype=torch.float32).view(-1, 6)


class NetClock:
    """Seconds spent inside a network's forward, summed over calls: ``wrap(fn)`` for a callable, ``hook(module)``
    for a module something else calls (forward pre/post hooks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._t0 = 0.0
        self._hooked: set[int] = set()

    def wrap(self, fn: Callable) -> Callable:
        def run(x):
            t0 = time.perf_counter()
            out = fn(x)
            self.total += time.perf_counter() - t0
            return out
        return run

    def hook(self, module: torch.nn.Module) -> None:
        if id(module) in self._hooked:
            return
        self._hooked.add(id(module))
        module.register_forward_pre_hook(lambda m, a: setattr(self, "_t0", time.perf_counter()))
        module.register_forward_hook(lambda m, a, o: setattr(self, "total", self.total + time.perf_counter()
                                                             - self._t0))


def _same_detections(a: torch.Tensor, b: torch.Tensor, px: float = 0.05, score: float = 1e-3) -> bool:
    """Whether two (N, 6) detection sets of one image pair up one to one: same class, boxes within ``px`` pixels,
    scores within ``score`` (the order of equal scores may differ)."""
    if len(a) != len(b):
        return False
    match = (((a[:, None, :4] - b[None, :, :4]).abs().amax(-1) < px) & ((a[:, None, 4] - b[None, :, 4]).abs() < score)
             & (a[:, None, 5] == b[None, :, 5]))
    return bool(match.any(1).all() and match.any(0).all())


def _slices(image, slice_size: int, overlap: float, imgsz: int, count: int) -> torch.Tensor:
    """The first ``count`` slices of ``image`` letterboxed to ``imgsz``, as :func:`predict_sliced` feeds them:
    (count, 3, imgsz, imgsz) float 0..1 over NHWC memory."""
    wins = slice_grid(*image.shape[:2], slice_size, overlap)[:count]
    crops = [letterbox(image[y1:y2, x1:x2].copy(), imgsz)[0] for x1, y1, x2, y2 in wins]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)


def _forward_section(net, backend, xs: torch.Tensor, threads: tuple[int, int], reps: int) -> dict[str, float]:
    """ms per image of the fused forward on ``xs``: yolo12l at batch 1/2/4/8 on ``threads[0]`` threads and, with
    more than one, in a worker per thread (each on one thread, batches of 4); Ultralytics' fused AutoBackend at batch
    1 on the contiguous NCHW tensor its preprocess makes (``threads[1]``); alternating."""
    n = xs.shape[0]
    nchw = xs.contiguous()
    fns: dict[str, tuple[int, Callable]] = {
        f"yolo12l_b{b}": (threads[0], lambda b=b: [net(xs[i:i + b]) for i in range(0, n, b)]) for b in (1, 2, 4, 8)}
    if threads[0] > 1:  # a worker per thread, each on one (predict_sliced's workers), batches of 4
        pool = ThreadPoolExecutor(threads[0])

        def batch(i: int) -> torch.Tensor:
            with torch.inference_mode():  # per thread
                return net(xs[i:i + 4])

        def in_workers() -> None:
            list(pool.map(batch, range(0, n, 4)))

        fns[f"yolo12l_{threads[0]}workers_b4"] = (1, in_workers)
    if backend is not None:
        fns["ultralytics_b1"] = (threads[1], lambda: [backend(nchw[i:i + 1]) for i in range(n)])
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode():
        for rep in range(reps + 1):
            for name, (t, fn) in fns.items():
                torch.set_num_threads(t)
                with Stopwatch() as sw:
                    fn()
                if rep:  # the first round warms up
                    times[name].append(1e3 * sw.wall / n)
    return {k: round(median(v), 1) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, default=CKPT)
    ap.add_argument("--images", type=int, default=4, help="validation images of the tiny-objects set")
    ap.add_argument("--slice", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=8, help="slices per network call (yolo12l; SAHI's sahi_b8)")
    ap.add_argument("--conditions", nargs="+", default=["default", "threads1", "threads2"],
                    choices=["default", "threads1", "threads2"], help="thread settings to measure (see above)")
    ap.add_argument("--forward-reps", type=int, default=3, help="rounds of the forward section (0: skip it)")
    ap.add_argument("--out", type=Path, default=result_path("bench_sliced"))
    args = ap.parse_args()

    load_start = load_average()
    ours_default = torch.get_num_threads()  # torch's default, what `yolo12l predict` runs with
    retain_freed_memory()
    paths = tiny_objects_dataset(num_val=max(8, args.images))
    gt = json.loads(paths.val_annotations.read_text())
    gt["images"] = gt["images"][:args.images]
    targets = _targets(gt)
    images = [cv2.cvtColor(cv2.imread(str(paths.val_images / im["file_name"])), cv2.COLOR_BGR2RGB)
              for im in gt["images"]]
    net, _ = load_ultralytics_checkpoint(args.weights)
    net = net.float().eval().fuse()
    sahi_model, sahi_predict = _sahi_model(args.weights, args.conf, args.imgsz)

    clocks: dict[str, NetClock] = {}
    common = dict(imgsz=args.imgsz, overlap=args.overlap, conf=args.conf, iou=0.7, merge="nmm", match_metric="ios",
                  match_thres=0.5, batch_size=args.batch)

    def ours(name: str, workers: int, **options) -> Callable:
        """yolo12l's row ``name``: predict_sliced with ``workers`` (the slice size defaults to the whole image)."""
        clock = clocks.setdefault(name, NetClock())
        return lambda im: predict_sliced(clock.wrap(net), [im], workers=workers, **{
            **common, **options, "slice_size": options.get("slice_size") or max(im.shape[:2])})[0]

    def our_rows(threads: int, default: bool) -> dict[str, Callable]:
        """``sliced`` as ``yolo12l predict --slice`` runs on ``threads`` torch threads (a worker per thread, each on
        one); ``sliced_intraop``: one worker on all of them (the way before workers); ``full`` / ``sliced+full`` in
        the default condition."""
        rows = {"sliced": ours("sliced", threads, slice_size=args.slice)}
        if threads > 1:
            rows["sliced_intraop"] = ours("sliced_intraop", 1, slice_size=args.slice)
        if default:
            rows = {"full": ours("full", threads), **rows,
                    "sliced+full": ours("sliced+full", threads, slice_size=args.slice, full_image=True)}
        return rows

    runs: dict[str, Callable] = {}
    sahi_rows = []
    if sahi_model is not None:
        def sahi_run(bs: int, clock: NetClock) -> Callable:
            def run(im):
                result = sahi_predict(
                    im, sahi_model, slice_height=args.slice, slice_width=args.slice, overlap_height_ratio=args.overlap,
                    overlap_width_ratio=args.overlap, perform_standard_pred=False, postprocess_type="GREEDYNMM",
                    postprocess_match_metric="IOS", postprocess_match_threshold=0.5,
                    postprocess_class_agnostic=False, verbose=0, batch_size=bs, force_postprocess_type=True)
                clock.hook(sahi_model.model.predictor.model)  # the AutoBackend its predictor made (first call)
                return _sahi_dets(result)
            return run

        for bs in (1, args.batch):
            sahi_rows.append(f"sahi_b{bs}")
            runs[f"sahi_b{bs}"] = sahi_run(bs, clocks.setdefault(f"sahi_b{bs}", NetClock()))
    warm = images[0][:2 * args.slice, :2 * args.slice].copy()
    for fn in our_rows(max(ours_default, 2), True).values():  # warm-up (allocations, oneDNN kernel selection)
        fn(warm)
    sahi_default = None
    for name in sahi_rows:
        runs[name](warm)  # the first call sets up Ultralytics' predictor, whose select_device sets the threads
        sahi_default = sahi_default or torch.get_num_threads()
    backend = sahi_model.model.predictor.model if sahi_model is not None else None
    thread_map = {"default": (ours_default, sahi_default or ours_default), "threads1": (1, 1), "threads2": (2, 2)}

    record = {"args": {k: str(v) for k, v in vars(args).items()}, "conditions": {}}
    for cond in args.conditions:
        threads = thread_map[cond]
        now = our_rows(threads[0], cond == "default")
        runs.update(now)
        names = [*now, *sahi_rows]
        side = {n: threads[1] if n.startswith("sahi") else threads[0] for n in names}
        print(f"\n== {cond}: yolo12l {threads[0]} torch thread(s), SAHI {threads[1]}", flush=True)
        forward = (_forward_section(net, backend, _slices(images[0], args.slice, args.overlap, args.imgsz, 8),
                                    threads, args.forward_reps) if args.forward_reps else {})
        if forward:
            print("forward ms / image:", forward, flush=True)
        dets: dict[str, list[torch.Tensor]] = {k: [] for k in names}
        times: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        net_s: dict[str, list[float]] = {k: [] for k in names}
        for i, im in enumerate(images):  # alternate the sides image by image
            for name in names:
                torch.set_num_threads(side[name])
                before = clocks[name].total
                with Stopwatch() as sw:
                    dets[name].append(runs[name](im))
                if torch.get_num_threads() != side[name]:
                    raise RuntimeError(f"{name} changed the torch threads to {torch.get_num_threads()}")
                times[name].append(sw.wall)
                cpu[name].append(sw.cpu)
                net_s[name].append(clocks[name].total - before)
                print(f"image {i + 1}/{len(images)} {name:12s} {sw.wall:7.2f} s (network {net_s[name][-1]:6.2f} s)"
                      f"  {len(dets[name][-1])} dets", flush=True)
        rows = {}
        for name in names:
            wall = sum(times[name])
            rows[name] = {**_evaluate(dets[name], targets), "wall_s_per_image": round(wall / len(images), 3),
                          # CPU seconds of the process (every thread), and the network's seconds summed over
                          # the workers' threads: both above the wall time when threads overlap
                          "cpu_s_per_image": round(sum(cpu[name]) / len(images), 3),
                          "network_s_per_image": round(sum(net_s[name]) / len(images), 3),
                          "images_per_s": round(len(images) / wall, 4),
                          "detections": sum(len(d) for d in dets[name])}
        ratios = {}
        for ref in sahi_rows:
            for mine in [n for n in ("sliced", "sliced_intraop") if n in rows]:
                for what in ("wall", "cpu"):
                    ratios[f"{mine}_{what}_vs_{ref}"] = round(rows[mine][f"{what}_s_per_image"]
                                                              / rows[ref][f"{what}_s_per_image"], 3)
            ratios[f"sliced_mAP_minus_{ref}"] = round(rows["sliced"]["mAP50-95"] - rows[ref]["mAP50-95"], 4)
            ratios[f"sliced_same_detections_as_{ref}"] = all(map(_same_detections, dets["sliced"], dets[ref]))
        if "full" in rows:
            full_map = rows["full"]["mAP50-95"]
            ratios["sliced_mAP_vs_full"] = round(rows["sliced"]["mAP50-95"] / full_map, 2) if full_map > 0 else None
        print(f"\n{len(images)} images {images[0].shape[1]}x{images[0].shape[0]}, slice {args.slice} overlap "
              f"{args.overlap} at imgsz {args.imgsz}, conf {args.conf}; {cond}: yolo12l {threads[0]} thread(s), "
              f"SAHI {threads[1]}")
        print("| run | mAP50-95 | mAP50 | AP_small | AP_medium | s / image | CPU s / image | network s / image | "
              "detections |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, r in rows.items():
            print(f"| {name} | {r['mAP50-95']:.3f} | {r['mAP50']:.3f} | {r['mAP_small']:.3f} | {r['mAP_medium']:.3f} "
                  f"| {r['wall_s_per_image']:.2f} | {r['cpu_s_per_image']:.2f} | {r['network_s_per_image']:.2f} | "
                  f"{r['detections']} |")
        print(json.dumps(ratios, indent=1), flush=True)
        record["conditions"][cond] = {
            "threads": {"yolo12l": threads[0], "sahi": threads[1]}, "rows": rows, "ratios": ratios,
            "forward_ms_per_image": forward, "per_image_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            "per_image_cpu_s": {k: [round(t, 3) for t in v] for k, v in cpu.items()},
            "loadavg_end": load_average()}
    try:
        import sahi
        import ultralytics
        versions = {"sahi": sahi.__version__, "ultralytics": ultralytics.__version__}
    except ImportError:
        versions = {}
    write_json({**record, "torch": torch.__version__, **versions, "cpu_count": os.cpu_count(),
                "cpu": platform.processor() or platform.machine(), "loadavg_start": load_start,
                "loadavg_end": load_average(),
                "note": "sides alternate image by image in one process; compare ratios within a condition"},
               args.out)


if __name__ == "__main__":
    main()
