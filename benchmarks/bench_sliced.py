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
* ``sliced``: yolo12l's sliced core, greedy NMM by IoS 0.5, ``--batch`` slices per network call;
* ``sliced+full``: the same with the full-image pass merged in;
* ``sahi_b1`` / ``sahi_b8``: SAHI, same options (``perform_standard_pred=False``, ``GREEDYNMM``, ``IOS``, 0.5,
  class-aware; ``force_postprocess_type`` so that it does not switch to NMS below conf 0.1), ``batch_size`` 1 (its
  default) and 8.

Times: per image, from the decoded RGB array to the merged detections (decoding excluded on both sides), the
sides alternating image by image in one process (the machine is shared: compare ratios, not absolute times).
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import cv2
import torch

from benchmarks.common import result_path, shared_dir, write_json
from benchmarks.timing import Stopwatch, load_average
from yolo12l import load_ultralytics_checkpoint
from yolo12l.data.synthetic_tiny import TINY_CLASSES, tiny_objects_dataset
from yolo12l.inference.slicing import predict_sliced
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, default=CKPT)
    ap.add_argument("--images", type=int, default=4, help="validation images of the tiny-objects set")
    ap.add_argument("--slice", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=8, help="slices per network call (yolo12l; SAHI's sahi_b8)")
    ap.add_argument("--out", type=Path, default=result_path("bench_sliced"))
    args = ap.parse_args()

    load_start = load_average()
    paths = tiny_objects_dataset(num_val=max(8, args.images))
    gt = json.loads(paths.val_annotations.read_text())
    gt["images"] = gt["images"][:args.images]
    targets = _targets(gt)
    images = [cv2.cvtColor(cv2.imread(str(paths.val_images / im["file_name"])), cv2.COLOR_BGR2RGB)
              for im in gt["images"]]
    net, _ = load_ultralytics_checkpoint(args.weights)
    net = net.float().eval().fuse()
    sahi_model, sahi_predict = _sahi_model(args.weights, args.conf, args.imgsz)

    common = dict(imgsz=args.imgsz, overlap=args.overlap, conf=args.conf, iou=0.7, merge="nmm", match_metric="ios",
                  match_thres=0.5, batch_size=args.batch)
    runs = {
        "full": lambda im: predict_sliced(net, [im], **{**common, "slice_size": max(im.shape[:2])})[0],
        "sliced": lambda im: predict_sliced(net, [im], slice_size=args.slice, **common)[0],
        "sliced+full": lambda im: predict_sliced(net, [im], slice_size=args.slice, full_image=True, **common)[0],
    }
    if sahi_model is not None:
        for bs in (1, args.batch):
            runs[f"sahi_b{bs}"] = (lambda bs: lambda im: _sahi_dets(sahi_predict(
                im, sahi_model, slice_height=args.slice, slice_width=args.slice, overlap_height_ratio=args.overlap,
                overlap_width_ratio=args.overlap, perform_standard_pred=False, postprocess_type="GREEDYNMM",
                postprocess_match_metric="IOS", postprocess_match_threshold=0.5, postprocess_class_agnostic=False,
                verbose=0, batch_size=bs, force_postprocess_type=True)))(bs)
    for fn in runs.values():  # warm-up (first-call allocations, oneDNN kernel selection)
        fn(images[0][:args.slice, :args.slice].copy())
    dets: dict[str, list[torch.Tensor]] = {k: [] for k in runs}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i, im in enumerate(images):  # alternate the sides image by image
        for name, fn in runs.items():
            with Stopwatch() as sw:
                dets[name].append(fn(im))
            times[name].append(sw.wall)
            print(f"image {i + 1}/{len(images)} {name:12s} {times[name][-1]:7.2f} s  {len(dets[name][-1])} dets",
                  flush=True)

    rows = {}
    for name in runs:
        wall = sum(times[name])
        rows[name] = {**_evaluate(dets[name], targets), "wall_s_per_image": round(wall / len(images), 3),
                      "images_per_s": round(len(images) / wall, 4), "detections": sum(len(d) for d in dets[name])}
    ratios = {}
    if "sahi_b1" in rows:
        for ref in ("sahi_b1", f"sahi_b{args.batch}"):
            ratios[f"sliced_wall_vs_{ref}"] = round(rows["sliced"]["wall_s_per_image"]
                                                    / rows[ref]["wall_s_per_image"], 3)
            ratios[f"sliced_mAP_minus_{ref}"] = round(rows["sliced"]["mAP50-95"] - rows[ref]["mAP50-95"], 4)
    full_map = rows["full"]["mAP50-95"]
    ratios["sliced_mAP_vs_full"] = round(rows["sliced"]["mAP50-95"] / full_map, 2) if full_map > 0 else None

    print(f"\n{len(images)} images {images[0].shape[1]}x{images[0].shape[0]}, slice {args.slice} overlap "
          f"{args.overlap} at imgsz {args.imgsz}, conf {args.conf}, {torch.get_num_threads()} torch threads")
    print("| run | mAP50-95 | mAP50 | AP_small | AP_medium | s / image | images / s | detections |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['mAP50-95']:.3f} | {r['mAP50']:.3f} | {r['mAP_small']:.3f} | {r['mAP_medium']:.3f} | "
              f"{r['wall_s_per_image']:.2f} | {r['images_per_s']:.3f} | {r['detections']} |")
    print(json.dumps(ratios, indent=1))
    try:
        import sahi
        import ultralytics
        versions = {"sahi": sahi.__version__, "ultralytics": ultralytics.__version__}
    except ImportError:
        versions = {}
    write_json({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "ratios": ratios,
                "per_image_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
                "torch": torch.__version__, **versions, "threads": torch.get_num_threads(),
                "cpu": platform.processor() or platform.machine(), "loadavg_start": load_start,
                "loadavg_end": load_average(),
                "note": "shared 2-core machine under load from other jobs; sides alternate image by image"},
               args.out)


if __name__ == "__main__":
    main()
