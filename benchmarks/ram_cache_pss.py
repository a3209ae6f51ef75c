"""Memory of ``cache_images: ram`` under 2-rank DDP (gloo, CPU) against one process: summed PSS of every rank and
its DataLoader workers while training — table + JSON.

    python -m benchmarks ram_cache_pss [--images 600] [--out benchmarks/results/ram_cache_pss-images<N>.json]

Data: the first ``--images`` (1500, a 1.3 GB cache) of the generated COCO-sized set (``large_dataset``, 640 px images),
640 px, batch 4, 1 persistent worker per rank, ``image_buffer_mb=0`` (so only the RAM cache holds images). The model is
one scalar parameter (the data path is what is measured). After 4 training steps each rank reads every page of its cache
mapping once (a whole epoch would, in its workers; a page never read is in no process's PSS), then the PSS (proportional
set size: each shared page divided among the processes mapping it, so the sum over processes counts it once) of itself
and its workers from ``/proc/<pid>/smaps_rollup``; the sum over the distinct processes of a run (rank 0 launches rank 1,
so rank 1 is also its child) is its memory. Goal: 2 ranks <= 1.2x one process.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import child_env, module_command, result_path, write_json
from benchmarks.timing import Stopwatch, load_average


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except OSError:
                pass
    return out


def child(a) -> None:
    import lightning as L
    import torch

    from yolo12l.data import YoloDataModule

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def training_step(self, batch, i):
            return (self.w - batch["images"][:, :, :8, :8].float().mean() / 255) ** 2

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Measure(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, i) -> None:
            if i == 3:
                store = trainer.datamodule.datasets["train"].images._store
                touched = int(store._data[::4096].sum()) if store is not None else None
                me = os.getpid()
                procs = {me: pss_kb(me), **{c: pss_kb(c) for c in children(me)}}
                Path(a.out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(
                    {"rank": trainer.global_rank, "pss_kb": procs, "cache_mb": round(store.nbytes / 2**20, 1)
                     if store is not None else None, "touched": touched is not None}))

    dm = YoloDataModule(a.data, imgsz=640, batch_size=4, num_workers=1, persistent_workers=True, pin_memory=False,
                        cache_dir=a.cache_dir, cache_images="ram", image_buffer_mb=0)
    tr = L.Trainer(accelerator="cpu", devices=a.devices, strategy="ddp" if a.devices > 1 else "auto", max_steps=5,
                   logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   callbacks=[Measure()], use_distributed_sampler=True)
    tr.fit(Tiny(), datamodule=dm)


def subset_yaml(n: int, root: Path) -> Path:
    from large_dataset import large_dataset

    src = large_dataset(3000).parent
    files = sorted((src / "images" / "train").glob("*.jpg"))[:n]
    (root / "list.txt").write_text("\n".join(str(f) for f in files) + "\n")
    y = root / "data.yaml"
    names = (src / "data.yaml").read_text().split("names:", 1)[1]
    y.write_text(f"path: {root}\ntrain: list.txt\nnames:{names}")
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--out", default=None, help="default benchmarks/results/ram_cache_pss-images<N>.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    if a.child:
        return child(a)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = subset_yaml(a.images, Path(tmp))
        for devices in (1, 2):
            out_dir = Path(tmp) / f"d{devices}"
            out_dir.mkdir()
            sw = Stopwatch().start()
            env = child_env(MASTER_PORT=str(29500 + devices + os.getpid() % 1000))
            p = subprocess.run([*module_command("benchmarks.ram_cache_pss"), "--child", "--devices", str(devices),
                                "--data", str(data), "--out-dir", str(out_dir), "--cache-dir",
                                str(Path(tmp) / "cache")], env=env, capture_output=True, text=True, timeout=900)
            if p.returncode:
                sys.exit(f"devices={devices} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
            ranks = [json.loads(f.read_text()) for f in sorted(out_dir.glob("rank*.json"))]
            pss = {pid: kb for r in ranks[::-1] for pid, kb in r["pss_kb"].items()}  # each pid once (its own rank's)
            total = sum(pss.values())
            runs[str(devices)] = {"ranks": ranks, "processes": len(pss),
                                  "summed_pss_mb": round(total / 1024, 1), "wall_s": round(sw.stop()[0], 1)}
            print(f"devices={devices}: {runs[str(devices)]['processes']} processes, summed PSS "
                  f"{runs[str(devices)]['summed_pss_mb']} MB", flush=True)
    from yolo12l.data.image_cache import resized_nbytes  # noqa: F401  (same package the runs used)

    ratio = runs["2"]["summed_pss_mb"] / runs["1"]["summed_pss_mb"]
    rec = {"benchmark": "ram_cache_pss", "images": a.images, "imgsz": 640, "runs": runs,
           "ratio_2_ranks_over_1": round(ratio, 3), "goal": "<= 1.2", "loadavg": load_average()}
    print(f"2 ranks / 1 process summed PSS: {ratio:.2f}x (goal <= 1.2x)")
    write_json(rec, a.out or result_path("ram_cache_pss", f"images{a.images}"))


if __name__ == "__main__":
    main()
