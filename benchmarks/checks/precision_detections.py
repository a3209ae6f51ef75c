"""Detections of the real Ultralytics shapes checkpoint under each inference precision, against float32.

    python -m benchmarks precision_detections [--out benchmarks/results/precision_detections-default.json]

The fused network (as ``validate`` / ``predict`` run it) on the six reference images at the reference's size:
float32, CPU bf16 autocast (as ``--trainer.precision bf16-mixed``) and a float16 network (``--half``'s path, on
the CPU here). Per precision: confident detections (conf 0.25) matched one to one to float32's (same class,
IoU > 0.5), the largest box-corner shift in pixels and the largest score change among them, and the output dtype.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch

from benchmarks.common import result_path, shared_dir, write_json
from yolo12l import load_ultralytics_checkpoint
from yolo12l.data.images import read_image
from yolo12l.inference import predict_image
from yolo12l.ops.boxes import box_iou


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(shared_dir()))
    ap.add_argument("--out", default=str(result_path("precision_detections")))
    a = ap.parse_args()
    ref = Path(a.shared) / "reference" / "ultralytics"
    meta = json.loads((ref / "yolo12n_shapes_predictions.json").read_text())
    net, _ = load_ultralytics_checkpoint(ref / "yolo12n_shapes_ultralytics.pt")
    net = net.float().eval().fuse()
    imgsz = int(meta["imgsz"])
    half = copy.deepcopy(net).half()  # predict_image feeds a network its parameters' dtype

    def bf16(image):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return predict_image(net, image, imgsz)

    runs = {"float32": lambda image: predict_image(net, image, imgsz), "bf16-autocast": bf16,
            "float16": lambda image: predict_image(half, image, imgsz)}
    result: dict = {"imgsz": imgsz, "images": 0, "precisions": {}}
    dets: dict[str, list] = {k: [] for k in runs}
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():  # the dtype of what leaves the model
        dtypes = {"float32": str(net(x).dtype), "float16": str(half(x.half()).dtype)}
        with torch.autocast("cpu", dtype=torch.bfloat16):
            dtypes["bf16-autocast"] = str(net(x).dtype)
    for path in sorted((ref / "shapes_images").glob("*.jpg")):
        image = read_image(path)
        result["images"] += 1
        for name, fn in runs.items():
            d = fn(image)
            dets[name].append(torch.cat((d["boxes"], d["scores"][:, None], d["classes"][:, None].float()), 1))
    for name in runs:
        matched, shift, dscore, total = 0, 0.0, 0.0, 0
        for d, r in zip(dets[name], dets["float32"]):
            total += len(r)
            if len(d) and len(r):
                iou = box_iou(r[:, :4], d[:, :4]) * (r[:, 5:6] == d[:, 5].view(1, -1))
                best, j = iou.max(1)
                ok = best > 0.5
                matched += int(ok.sum())
                if ok.any():
                    shift = max(shift, (r[ok, :4] - d[j[ok], :4]).abs().max().item())
                    dscore = max(dscore, (r[ok, 4] - d[j[ok], 4]).abs().max().item())
        result["precisions"][name] = {"output_dtype": dtypes[name], "detections": sum(len(d) for d in dets[name]),
                                      "matched_to_float32": matched, "float32_detections": total,
                                      "max_corner_shift_px": round(shift, 4), "max_score_change": round(dscore, 5)}
    print(f"{'precision':<14} {'dtype':<14} {'dets':>5} {'matched':>8} {'max shift px':>13} {'max dscore':>11}")
    for name, r in result["precisions"].items():
        print(f"{name:<14} {r['output_dtype']:<14} {r['detections']:>5} "
              f"{r['matched_to_float32']:>4}/{r['float32_detections']:<3} "
              f"{r['max_corner_shift_px']:>13} {r['max_score_change']:>11}")
    write_json(result, a.out)


if __name__ == "__main__":
    main()
