"""Inference speed of yolo12l against Ultralytics, side by side in one process (not a test).

Runs in the Ultralytics venv (both frameworks, same torch; the runner switches to ``$YOLO12L_UL_PYTHON``); without
``ultralytics`` only yolo12l's figures are made:

    python -m benchmarks bench_inference \
        [--scales n s] [--batches 1 8] [--threads N] [--reps 7] [--predict-images 32] [--skip-predict] \
        [--out benchmarks/results/bench_inference-threads<N>.json]

1. ``forward``: the fused eval forward at 640 × 640, yolo12l's ``DetectionNetwork.fuse()`` against Ultralytics'
   ``DetectionModel.fuse()`` (what their predictor runs), same weights (Ultralytics' random init copied into
   yolo12l), under ``torch.inference_mode``. The two sides alternate call by call; the figures are the medians of
   the per-pair ratios of wall and of process CPU time (the machine is shared, so absolute times drift; ratios of
   neighbouring calls do not).
2. ``postprocess``: yolo12l's ``postprocess`` at conf 0.001 / IoU 0.7 / max_det 300 on the real (1, 84, 8400)
   output of yolo12n for a COCO128 image, pure torch and with torchvision's NMS (when importable); wall and thread
   CPU time.
3. ``predict``: the two commands, ``yolo predict`` and ``yolo12l predict``, on the same images (the first
   ``--predict-images`` of COCO128) with the same checkpoint (the Ultralytics one), both writing annotated images;
   separate processes, alternating, wall and CPU (user + system) time of the whole command (start-up included).
4. On a CUDA device (when there is one): fp16 batch-1 latency of the fused yolo12n, eager, torch.compile and
   CUDA graphs (``mode="reduce-overhead"``).

Prints a table and writes JSON (load average at start and end, threads, torch / ultralytics versions).
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import child_env, result_path, shared_dir, write_json
from benchmarks.timing import Stopwatch, Timings, children_cpu_time, load_average, median, median_ratio, timeit
from yolo12l import build_model, convert_ultralytics_state_dict
from yolo12l.ops import postprocess
from yolo12l.ops.nms import torchvision_nms

SHARED = shared_dir()
CKPT = SHARED / "reference" / "ultralytics" / "yolo12n_shapes_ultralytics.pt"
COCO128 = SHARED / "datasets" / "coco128" / "images" / "train2017"


def _alternate(fns: dict[str, callable], reps: int, warmup: int = 1) -> tuple[dict[str, list[float]], ...]:
    """Wall and process-CPU seconds of ``reps`` rounds, each calling every fn once (in turn). CPU time counts only
    this process's work, so other processes' load disturbs it less than wall time (it still inflates it through
    shared caches and, with several threads, time spent waiting at parallel regions)."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    timings = {k: Timings() for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            with Stopwatch() as sw:
                f()
            timings[k].add(sw)
    return {k: t.wall for k, t in timings.items()}, {k: t.cpu for k, t in timings.items()}


def bench_forward(scales: list[str], batches: list[int], reps: int, have_ul: bool) -> list[dict]:
    rows = []
    for scale in scales:
        if have_ul:
            from ultralytics.nn.tasks import DetectionModel

            ul = DetectionModel(f"yolo12{scale}.yaml", verbose=False).eval()
            ours = build_model(f"yolo12{scale}.yaml")
            ours.load_state_dict(convert_ultralytics_state_dict(ul.state_dict()), strict=True)
            ul = ul.fuse(verbose=False).eval()
        else:
            ul, ours = None, build_model(f"yolo12{scale}.yaml")
        ours = ours.eval().fuse()
        for batch in batches:
            x = torch.rand(batch, 3, 640, 640)
            n = reps if batch == 1 else max(3, reps // 2)
            with torch.inference_mode():
                fns = {"yolo12l": lambda: ours(x)}
                if ul is not None:
                    fns["ultralytics"] = lambda: ul(x)
                    diff = (ours(x) - ul(x)[0]).abs().max().item()
                times, cpu = _alternate(fns, n)
            row = {"scale": scale, "batch": batch, "imgsz": 640, "reps": n,
                   "yolo12l_ms": 1e3 * median(times["yolo12l"]),
                   "yolo12l_cpu_ms": 1e3 * median(cpu["yolo12l"])}
            if ul is not None:
                row.update(ultralytics_ms=1e3 * median(times["ultralytics"]),
                           ultralytics_cpu_ms=1e3 * median(cpu["ultralytics"]),
                           ratio=median_ratio(times["yolo12l"], times["ultralytics"]),
                           cpu_ratio=median_ratio(cpu["yolo12l"], cpu["ultralytics"]), max_abs_diff=diff)
            rows.append(row)
            print(f"forward yolo12{scale} batch {batch}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float)), flush=True)
    return rows


def bench_postprocess(reps: int) -> list[dict]:
    from yolo12l.data.images import read_image
    from yolo12l.data.letterbox import letterbox
    from yolo12l.interop import load_ultralytics_checkpoint

    image = sorted(COCO128.glob("*.jpg"))[0]
    net = load_ultralytics_checkpoint(CKPT)[0].fuse()
    padded, _ = letterbox(read_image(image), 640, auto=False)
    x = torch.from_numpy(padded.transpose(2, 0, 1).copy())[None].float() / 255
    with torch.inference_mode():
        y = net(x)
    # the shapes checkpoint has 3 classes; tile them to COCO's 80 (as the (1, 84, 8400) output of an 80-class model)
    cls = y[:, 4:].repeat(1, 27, 1)[:, :80] * torch.linspace(1.0, 0.5, 80)[None, :, None]
    y80 = torch.cat((y[:, :4], cls), 1)
    from benchmarks.bench_nms import make_output

    inputs = {f"yolo12n output, {image.name} (3 classes tiled to 80)": y80, "bench_nms synthetic": make_output(1, 20)}
    backends = ["torch"] + (["torchvision"] if torchvision_nms() is not None else [])
    rows = []
    for name, yy in inputs.items():
        for backend in backends:
            fn = lambda: postprocess(yy, conf=0.001, iou=0.7, max_det=300, backend=backend)  # noqa: E731
            dets = fn()
            t = timeit(fn, reps, cpu_clock=time.thread_time)
            wall, cpu = t.wall, t.cpu
            row = {"input": name, "shape": list(yy.shape), "backend": backend, "conf": 0.001,
                   "candidates": int((yy[:, 4:].amax(1) > 0.001).sum()), "kept": len(dets[0]),
                   "wall_ms": 1e3 * median(wall), "cpu_ms": 1e3 * median(cpu)}
            rows.append(row)
            print(f"postprocess [{name}] {backend}: {row['candidates']} candidates, {row['kept']} kept, "
                  f"wall {row['wall_ms']:.2f} ms, cpu {row['cpu_ms']:.2f} ms", flush=True)
    return rows


def bench_predict(n_images: int, reps: int, threads: int | None) -> dict:
    images = sorted(COCO128.glob("*.jpg"))[:n_images]
    tmp = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    src = tmp / "images"
    src.mkdir()
    for f in images:
        (src / f.name).symlink_to(f)
    py = sys.executable
    env = child_env(YOLO_OFFLINE="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    yolo = Path(py).with_name("yolo")
    commands = {
        "yolo12l": [py, "-m", "yolo12l.cli", "predict", "--weights", str(CKPT), "--source", str(src), "--imgsz",
                    "640", "--device", "cpu", "--out", str(tmp / "yolo12l")],
        "ultralytics": [str(yolo), "predict", f"model={CKPT}", f"source={src}", "imgsz=640", "device=cpu",
                        "save=True", f"project={tmp}", "name=ul", "exist_ok=True"],
    }
    if not yolo.exists():
        commands.pop("ultralytics")
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    tails: dict[str, str] = {}
    for _ in range(reps):
        for k, cmd in commands.items():
            with Stopwatch(cpu_clock=children_cpu_time) as sw:
                res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            times[k].append(sw.wall)
            cpu[k].append(sw.cpu)
            if res.returncode:
                raise RuntimeError(f"{k} predict failed ({res.returncode}): {res.stderr[-2000:]}")
            tails[k] = "\n".join((res.stdout + res.stderr).strip().splitlines()[-3:])
    out = {"images": len(images), "reps": reps, "commands": {k: " ".join(v) for k, v in commands.items()},
           "output_tail": tails}
    for k, v in times.items():
        out[f"{k}_s"] = median(v)
        out[f"{k}_cpu_s"] = median(cpu[k])
        out[f"{k}_all_s"] = v
    if "ultralytics" in times:
        out["ratio"] = median_ratio(times["yolo12l"], times["ultralytics"])
        out["cpu_ratio"] = median_ratio(cpu["yolo12l"], cpu["ultralytics"])
    print("predict: " + ", ".join(f"{k} {v:.3g}" for k, v in out.items() if isinstance(v, float)), flush=True)
    for k, t in tails.items():
        print(f"  {k} output ends with:\n    " + t.replace("\n", "\n    "))
    return out


def bench_gpu(reps: int) -> dict | None:
    if not torch.cuda.is_available():
        return None
    net = build_model("yolo12n.yaml").eval().fuse().cuda().half()
    x = torch.rand(1, 3, 640, 640, device="cuda", dtype=torch.float16)
    out = {"device": torch.cuda.get_device_name()}
    with torch.inference_mode():
        variants = {"eager": net, "compile": torch.compile(copy.deepcopy(net)),
                    "compile_cudagraphs": torch.compile(copy.deepcopy(net), mode="reduce-overhead")}
        for name, m in variants.items():
            for _ in range(10):
                m(x)
            times = timeit(lambda: m(x), max(reps, 50), "cuda").wall
            out[f"{name}_ms"] = 1e3 * median(times)
    print("gpu fp16 batch 1: " + ", ".join(f"{k} {v:.3f}" for k, v in out.items() if isinstance(v, float)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", nargs="+", default=["n", "s"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, all cores)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--predict-images", type=int, default=32)
    ap.add_argument("--predict-reps", type=int, default=3)
    ap.add_argument("--skip-forward", action="store_true")
    ap.add_argument("--skip-predict", action="store_true")
    ap.add_argument("--out", default=None, help="default benchmarks/results/bench_inference-threads<N>.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import ultralytics

        ul_version = ultralytics.__version__
    except ImportError:
        ul_version = None
    record = {"benchmark": "inference", "torch": torch.__version__, "ultralytics": ul_version,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "load_average_start": load_average(),
              "command": " ".join([Path(sys.executable).name, *sys.argv])}
    print(f"torch {torch.__version__}, ultralytics {ul_version}, threads {torch.get_num_threads()}, "
          f"load average {record['load_average_start']}", flush=True)
    if not args.skip_forward:
        record["forward"] = bench_forward(args.scales, args.batches, args.reps, ul_version is not None)
    record["postprocess"] = bench_postprocess(max(args.reps, 10))
    if not args.skip_predict:
        record["predict"] = bench_predict(args.predict_images, args.predict_reps, args.threads)
    record["gpu"] = bench_gpu(args.reps)
    record["load_average_end"] = load_average()

    print(f"\nload average start {record['load_average_start']}, end {record['load_average_end']}")
    if record.get("forward"):
        print(f"{'model':>8} {'batch':>5} {'yolo12l ms':>11} {'ultra ms':>9} {'ratio':>6} {'cpu ratio':>9}")
        for r in record["forward"]:
            print(f"{'yolo12' + r['scale']:>8} {r['batch']:>5} {r['yolo12l_ms']:>11.1f} "
                  f"{r.get('ultralytics_ms', float('nan')):>9.1f} {r.get('ratio', float('nan')):>6.3f} "
                  f"{r.get('cpu_ratio', float('nan')):>9.3f}")
    for r in record["postprocess"]:
        print(f"postprocess {r['backend']:>11} {r['wall_ms']:7.2f} ms wall {r['cpu_ms']:7.2f} ms cpu  [{r['input']}]")
    if record.get("predict"):
        p = record["predict"]
        print(f"predict {p['images']} images: yolo12l {p['yolo12l_s']:.2f} s, ultralytics "
              f"{p.get('ultralytics_s', float('nan')):.2f} s, ratio {p.get('ratio', float('nan')):.3f} "
              f"(CPU {p['yolo12l_cpu_s']:.2f} s / {p.get('ultralytics_cpu_s', float('nan')):.2f} s, "
              f"ratio {p.get('cpu_ratio', float('nan')):.3f})")
    write_json(record, args.out or result_path("bench_inference", f"threads{torch.get_num_threads()}"))


if __name__ == "__main__":
    main()
