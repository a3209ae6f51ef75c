"""Training throughput on CPU against Ultralytics side by side: train loader img/s per worker count, core training step
time for yolo12n / yolo12s, and our whole Lightning step — table + JSON.

    python -m benchmarks bench_train \
        [--sections loader step fit] [--rounds 3] [--workers 0 1 2]
        [--out benchmarks/results/bench_train-<sections>.json]

(in the Ultralytics venv: the runner switches to ``$YOLO12L_UL_PYTHON``; ``--no-ultralytics`` for our rows alone)

Loader (COCO128 YOLO layout, 640 px, batch 16, default augmentation: mosaic, affine, HSV, flip): each round builds
every loader afresh (sides alternate, order reversed every other round), warms it up for ``--warmup`` batches (worker
start, Ultralytics' mosaic buffer / our decoded-image buffer fill: 2 epochs by default) and times ``--batches``. Ours:
``ours`` (defaults: 512 MiB decoded-image buffer per process), ``ours_nobuffer`` (every image decoded when used —
what a dataset much larger than the buffer sees), ``ours_ram`` (``cache_images="ram"``). Ultralytics:
``ultralytics`` (defaults: on COCO128 its mosaic buffer, min(n, 8*batch, 1000) = 128 images, holds the whole
dataset after warm-up) and ``ultralytics_ram`` (``cache="ram"``). OpenCV threads in the main process: each side's
own setting (ours: OpenCV's default; Ultralytics sets ``cv2.setNumThreads(0)``, i.e. sequential, when imported),
or ``--cv2-threads N`` for both. ``--loaders`` runs a subset.

Step (``--step-imgsz`` 320, ``--step-batch`` 8, one real COCO128 mosaic batch): forward + loss + backward +
clip_grad_norm(10) + SGD step, alternating the sides per round, median over all timed steps. Fit: our
``YOLODetector`` + ``ModelEMA`` through ``Trainer.fit`` on the same batch (the whole step), median seconds per batch.
torch runs one thread everywhere (the box is shared); medians and the load average are recorded.

``--dataset large``: the loaders on a generated set of ``--large-n`` (3000) COCO-sized JPEGs (``large_dataset``,
cached under ``~/.cache/yolo12l``), default settings both sides (``ours`` and ``ultralytics``), warm-up 4 batches;
every loader row also gets ``decodes_per_sample`` (ours: files decoded per sample, counted in every worker). The
result goes to ``bench_train-large.json`` by default. ``streaming``: :class:`StreamingDataModule` on LitData shards of
the same training images (``yolo12l optimize-data`` layout, chunks of 64, written once under ``~/.cache/yolo12l/
shards/``), same settings; ``streaming/ours`` is its img/s against the folder loader's.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2

CV2_DEFAULT_THREADS = cv2.getNumThreads()  # before Ultralytics' import sets 0

import torch  # noqa: E402

from benchmarks.common import result_path, shared_dir, write_json  # noqa: E402  (cv2's threads read first)
from benchmarks.large_dataset import large_dataset  # noqa: E402
from benchmarks.throughput import (CoreStep, fit_step_times, loader_rate, ours_loader, streaming_loader,  # noqa: E402
                                   time_steps, ul_loader, ultralytics_available)
from benchmarks.timing import load_average, median  # noqa: E402

OURS = {"ours": {}, "ours_nobuffer": {"image_buffer_mb": 0}, "ours_ram": {"cache_images": "ram", "image_buffer_mb": 0},
        "streaming": None}
UL = {"ultralytics": None, "ultralytics_ram": "ram"}


def close(loader) -> None:
    if hasattr(loader, "close"):
        loader.close()
    del loader
    gc.collect()


def bench_loaders(a, data_yaml: Path, have_ul: bool) -> dict:
    names = [n for n in list(OURS) + (list(UL) if have_ul else []) if a.loaders is None or n in a.loaders]
    rates: dict[str, dict[int, list[float]]] = {n: {w: [] for w in a.workers} for n in names}
    cpus: dict[str, dict[int, list[float]]] = {n: {w: [] for w in a.workers} for n in names}
    decodes: dict[str, dict[int, list[float]]] = {n: {w: [] for w in a.workers} for n in names}
    loads = []
    with tempfile.TemporaryDirectory() as cache:
        for r in range(a.rounds):
            for w in a.workers:
                order = names if r % 2 == 0 else names[::-1]
                for name in order:
                    if name == "streaming":
                        cv2.setNumThreads(CV2_DEFAULT_THREADS if a.cv2_threads is None else a.cv2_threads)
                        loader = streaming_loader(data_yaml, a.imgsz, a.batch, w)
                    elif name in OURS:
                        cv2.setNumThreads(CV2_DEFAULT_THREADS if a.cv2_threads is None else a.cv2_threads)
                        loader = ours_loader(data_yaml, a.imgsz, a.batch, w, cache, **OURS[name])
                    else:
                        cv2.setNumThreads(0 if a.cv2_threads is None else a.cv2_threads)
                        loader = ul_loader(data_yaml, a.imgsz, a.batch, w, cache=UL[name])
                    res = loader_rate(loader, a.warmup, a.batches)
                    close(loader)
                    rates[name][w].append(res["images_per_s"])
                    if "cpu_ms_per_image" in res:
                        cpus[name][w].append(res["cpu_ms_per_image"])
                    if "decodes_per_sample" in res:
                        decodes[name][w].append(res["decodes_per_sample"])
                    loads.append(load_average()[0])
                    print(f"round {r} workers={w} {name:16s} {res['images_per_s']:7.1f} img/s "
                          f"{res.get('cpu_ms_per_image', float('nan')):6.2f} CPU ms/img "
                          f"{res.get('decodes_per_sample', float('nan')):5.2f} decodes/sample  "
                          f"load {loads[-1]:.1f}", flush=True)
    cv2.setNumThreads(CV2_DEFAULT_THREADS)
    table = {n: {str(w): {"median_images_per_s": median(v), "runs": v,
                          "median_cpu_ms_per_image": median(cpus[n][w]), "cpu_runs": cpus[n][w],
                          **({"median_decodes_per_sample": median(decodes[n][w]), "decodes_runs": decodes[n][w]}
                             if decodes[n][w] else {})}
                 for w, v in per.items()} for n, per in rates.items()}
    ratios, cpu_ratios = {}, {}
    if "streaming" in names and "ours" in names:
        ratios["streaming/ours"] = {str(w): round(median(rates["streaming"][w]) / median(rates["ours"][w]), 3)
                                    for w in a.workers}
        cpu_ratios["streaming/ours"] = {str(w): round(median(cpus["ours"][w]) / median(cpus["streaming"][w]), 3)
                                        for w in a.workers}
    if have_ul:
        for ours in [n for n in names if n in OURS and n != "streaming"]:
            for ul in [n for n in names if n in UL]:
                ratios[f"{ours}/{ul}"] = {str(w): round(median(rates[ours][w]) / median(rates[ul][w]), 3)
                                          for w in a.workers}
                # images per CPU-second (main process + workers), ours / theirs
                cpu_ratios[f"{ours}/{ul}"] = {str(w): round(median(cpus[ul][w]) / median(cpus[ours][w]), 3)
                                              for w in a.workers}
    return {"imgsz": a.imgsz, "batch": a.batch, "warmup_batches": a.warmup, "timed_batches": a.batches,
            "rounds": a.rounds, "cv2_threads_main_process": (
                {"ours": CV2_DEFAULT_THREADS, "ultralytics": 0} if a.cv2_threads is None
                else {"ours": a.cv2_threads, "ultralytics": a.cv2_threads}),
            "results": table, "ratios": ratios,
            "images_per_cpu_s_ratios": cpu_ratios, "loadavg_1min": loads}


def real_batch(data_yaml: Path, imgsz: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        b = next(iter(ours_loader(data_yaml, imgsz, batch, 0, cache, image_buffer_mb=0)))
    return {"images": b["images"], "targets": b["targets"]}


def bench_steps(a, data_yaml: Path, have_ul: bool, sections: list[str]) -> dict:
    batch = real_batch(data_yaml, a.step_imgsz, a.step_batch)
    out = {"imgsz": a.step_imgsz, "batch": a.step_batch, "targets": int(len(batch["targets"])), "models": {}}
    for model in a.models:
        sides = ["ours"] + (["ultralytics"] if have_ul else [])
        steps = {s: CoreStep("ours" if s == "ours" else "ul", model, 80, "cpu") for s in sides}
        times: dict[str, list[float]] = {s: [] for s in sides}
        loads = []
        if "step" in sections:
            for s in sides:
                time_steps(steps[s], batch, a.step_warmup)
            for r in range(a.rounds):
                for s in (sides if r % 2 == 0 else sides[::-1]):
                    times[s] += time_steps(steps[s], batch, a.steps)[0]
                    loads.append(load_average()[0])
                print(f"round {r} {model}: " + "  ".join(f"{s} {median(times[s]) * 1e3:.0f} ms" for s in sides),
                      flush=True)
        rec = {s: {"median_step_s": median(times[s]), "runs_s": times[s]} for s in sides}
        if have_ul and "step" in sections:
            rec["ours/ultralytics_time"] = round(median(times["ours"]) / median(times["ultralytics"]), 3)
        del steps
        if "fit" in sections:
            fit = fit_step_times(model, 80, batch, a.step_warmup + a.steps * a.rounds // 2)
            dts = fit["step_seconds"][a.step_warmup - 1:]
            rec["ours_fit"] = {"median_step_s": median(dts), "images_per_s": round(a.step_batch / median(dts), 2),
                               "runs_s": dts, "losses_finite": all(map(lambda v: v == v, fit["losses"]))}
            if times["ours"]:
                rec["ours_fit"]["fit/core_time"] = round(median(dts) / median(times["ours"]), 3)
            loads.append(load_average()[0])
            print(f"{model}: our whole step {median(dts) * 1e3:.0f} ms ({rec['ours_fit']['images_per_s']} img/s)",
                  flush=True)
        rec["loadavg_1min"] = loads
        out["models"][model] = rec
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None,
                    help="YOLO dataset YAML (default: $YOLO12L_SHARED/datasets/coco128/coco128.yaml)")
    ap.add_argument("--dataset", choices=["coco128", "large"], default="coco128",
                    help="large: generated COCO-sized JPEGs (see the module doc); implies --sections loader")
    ap.add_argument("--large-n", type=int, default=3000, help="images of --dataset large")
    ap.add_argument("--sections", nargs="+", default=["loader", "step", "fit"], choices=["loader", "step", "fit"])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--warmup", type=int, default=None,
                    help="loader warm-up batches (default 16 = 2 epochs of COCO128; 4 for --dataset large)")
    ap.add_argument("--batches", type=int, default=12, help="timed loader batches")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["yolo12n.yaml", "yolo12s.yaml"])
    ap.add_argument("--step-imgsz", type=int, default=320)
    ap.add_argument("--step-batch", type=int, default=8)
    ap.add_argument("--step-warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per side and round")
    ap.add_argument("--no-ultralytics", action="store_true")
    ap.add_argument("--cv2-threads", type=int, default=None,
                    help="OpenCV threads in the main process for both sides (default: each side's own setting)")
    ap.add_argument("--loaders", nargs="+", default=None, help="subset of: " + " ".join(list(OURS) + list(UL)))
    ap.add_argument("--out", default=None, help="default benchmarks/results/bench_train-<sections>.json "
                                                "(bench_train-large.json for --dataset large)")
    a = ap.parse_args()
    large = a.dataset == "large"
    if a.warmup is None:
        a.warmup = 4 if large else 16
    if a.out is None:
        a.out = str(result_path("bench_train", "large" if large else "_".join(a.sections)))
    shared = shared_dir()
    if large:
        a.sections = ["loader"]
        if a.loaders is None:
            a.loaders = ["ours", "ultralytics"]
        data_yaml = large_dataset(a.large_n, shared)
    else:
        data_yaml = Path(a.data) if a.data else shared / "datasets" / "coco128" / "coco128.yaml"
    have_ul = ultralytics_available() and not a.no_ultralytics
    if have_ul:
        import ultralytics

        ul_version = ultralytics.__version__
    torch.set_num_threads(1)
    t0 = time.time()
    record = {"benchmark": "bench_train", "dataset": a.dataset, "data": str(data_yaml), "cpu_count": os.cpu_count(),
              "cpu": _cpu_name(),
              "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
              "ultralytics": ul_version if have_ul else None, "torch_threads": 1,
              "loadavg_start": load_average()}
    if "loader" in a.sections:
        record["loader"] = bench_loaders(a, data_yaml, have_ul)
    if "step" in a.sections or "fit" in a.sections:
        record["train_step"] = bench_steps(a, data_yaml, have_ul, a.sections)
    record["loadavg_end"] = load_average()
    record["wall_s"] = round(time.time() - t0, 1)
    print_table(record)
    write_json(record, a.out)


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def print_table(rec: dict) -> None:
    if "loader" in rec:
        ld = rec["loader"]
        ws = list(next(iter(ld["results"].values())))
        print(f"\ntrain loader img/s (median of {ld['rounds']}), {ld['imgsz']} px, batch {ld['batch']}")
        print(f"{'':26s}" + "".join(f"{'workers ' + w:>11s}" for w in ws))
        for name, per in ld["results"].items():
            print(f"{name:26s}" + "".join(f"{per[w]['median_images_per_s']:11.1f}" for w in ws))
        for name, per in ld["results"].items():
            if "median_decodes_per_sample" in per[ws[0]]:
                print(f"{name + ' decodes/sample':26s}" + "".join(f"{per[w]['median_decodes_per_sample']:11.2f}"
                                                              for w in ws))
        for name, per in ld["ratios"].items():
            print(f"{name:26s}" + "".join(f"{per[w]:10.2f}x" for w in ws))
        print("images per CPU-second (main process + workers), ratio")
        for name, per in ld.get("images_per_cpu_s_ratios", {}).items():
            print(f"{name:26s}" + "".join(f"{per[w]:10.2f}x" for w in ws))
    if "train_step" in rec:
        st = rec["train_step"]
        print(f"\ntrain step at {st['imgsz']} px, batch {st['batch']} (median seconds)")
        for model, r in st["models"].items():
            parts = [f"{s} {r[s]['median_step_s'] * 1e3:.0f} ms" for s in ("ours", "ultralytics")
                     if s in r and r[s]["runs_s"]]
            if "ours/ultralytics_time" in r:
                parts.append(f"ours/ultralytics {r['ours/ultralytics_time']:.3f}x")
            if "ours_fit" in r:
                parts.append(f"our whole step {r['ours_fit']['median_step_s'] * 1e3:.0f} ms = "
                             f"{r['ours_fit']['images_per_s']} img/s")
            print(f"{model:14s} " + ", ".join(parts))


if __name__ == "__main__":
    main()
