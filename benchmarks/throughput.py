"""Throughput measurements shared by ``benchmarks.bench_train`` (CPU, COCO128) and ``scripts/device_check.py`` (GPU).

Both sides get the same inputs; Ultralytics only when importable (``ultralytics_available``); yolo12l never imports it.

* train loaders: ours (``CocoDataModule``/``YoloDataModule`` train loader) and Ultralytics' (``build_yolo_dataset`` +
  ``build_dataloader`` with its default hyper-parameters), images/s after a warm-up (:func:`loader_rate`);
* core training step on one fixed batch: forward + loss + backward + ``clip_grad_norm_(10)`` + SGD step + zero_grad,
  optionally under autocast (bf16 / fp16 with a GradScaler) and with the EMA update (:class:`CoreStep`);
* our whole step: ``YOLODetector`` through ``Trainer.fit`` on in-memory batches (hooks, EMA callback, logging,
  scheduler), seconds between consecutive ``on_train_batch_end`` (:func:`fit_step_times`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from benchmarks.timing import Stopwatch, sync

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def ultralytics_available() -> bool:
    return importlib.util.find_spec("ultralytics") is not None


# ---------------------------------------------------------------------------------------------------------- loaders
def _children_cpu_s() -> float | None:
    """User + system CPU seconds of this process's live child processes (DataLoader workers), from /proc; None
    where there is no /proc."""
    me, total = str(os.getpid()), 0.0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # fields[0] is the state, [1] the parent pid, [11], [12] utime, stime
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def loader_rate(loader, warmup: int, batches: int) -> dict[str, float]:
    """Images/s over ``batches`` batches after ``warmup`` batches (worker start, caches); restarts at epoch ends.

    Also ``cpu_ms_per_image``: CPU time of the main process and its (persistent) workers over the timed batches per
    image — less sensitive than images/s to other load on a shared machine; and, for our loaders,
    ``decodes_per_sample``: image files decoded per training sample made by the loader (workers' prefetched samples
    included) from the start of the timed batches."""
    stats = getattr(loader.dataset, "load_stats", None)
    def forever() -> Iterator[Any]:
        while True:
            yield from loader

    it = forever()
    for _ in range(warmup):
        next(it)
    if stats is not None:
        loader.dataset.reset_load_stats()
    n, w0 = 0, _children_cpu_s()
    with Stopwatch() as sw:
        for _ in range(batches):
            b = next(it)
            n += int((b["images"] if "images" in b else b["img"]).shape[0])
    w1 = _children_cpu_s()
    out = {"images": n, "seconds": round(sw.wall, 3), "images_per_s": round(n / sw.wall, 2)}
    if w0 is not None and w1 is not None:
        out["cpu_ms_per_image"] = round((sw.cpu + w1 - w0) / n * 1e3, 3)
    if stats is not None:
        out["decodes_per_sample"] = round(stats()["decodes_per_sample"], 3)
    return out


def streaming_loader(data_yaml: str | os.PathLike, imgsz: int, batch: int, workers: int, **kw: Any):
    """:class:`StreamingDataModule`'s train loader on LitData shards of the dataset's training split (written once,
    chunks of 64, under ``~/.cache/yolo12l/shards/<hash of the YAML path>``; the same images as :func:`ours_loader`)."""
    import hashlib

    from yolo12l.data import StreamingDataModule, YoloDataModule, write_shards
    from yolo12l.data.cache import default_cache_dir

    key = hashlib.sha1(str(Path(data_yaml).resolve()).encode()).hexdigest()[:12]
    shards = Path(default_cache_dir()) / "shards" / key
    if not (shards / "yolo12l_meta.json").is_file():
        write_shards(YoloDataModule(data_yaml), "train", shards, overwrite=True)
    dm = StreamingDataModule(str(shards), imgsz=imgsz, batch_size=batch, num_workers=workers, pin_memory=False, **kw)
    dm.setup("fit")
    return dm.train_dataloader()


def ours_loader(data_yaml: str | os.PathLike, imgsz: int, batch: int, workers: int, cache_dir: str, **kw: Any):
    """Our train loader on a YOLO-layout dataset (mosaic, affine, HSV, flip: the defaults)."""
    from yolo12l.data import YoloDataModule

    dm = YoloDataModule(data_yaml, imgsz=imgsz, batch_size=batch, num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=False, cache_dir=cache_dir, **kw)
    dm.setup("fit")
    return dm.train_dataloader()


def ul_loader(data_yaml: str | os.PathLike, imgsz: int, batch: int, workers: int, cache: str | None = None):
    """Ultralytics' train loader on the same YAML (its default hyper-parameters, i.e. its trainer's augmentation)."""
    import yaml
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_dataloader, build_yolo_dataset

    y = yaml.safe_load(Path(data_yaml).read_text())
    root = (Path(data_yaml).parent / y.get("path", ".")).resolve()
    names = y["names"]
    data = {"train": str(root / y["train"]), "val": str(root / y.get("val", y["train"])), "names": names,
            "nc": len(names), "channels": 3}
    cfg = get_cfg(overrides={"imgsz": imgsz, "cache": cache or False})
    ds = build_yolo_dataset(cfg, data["train"], batch, data, mode="train")
    return build_dataloader(ds, batch, workers, shuffle=True, rank=-1, pin_memory=False, device="cpu")


# ----------------------------------------------------------------------------------------------------------- batches
def synthetic_batch(batch: int, imgsz: int, nc: int = 80, per_image: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Our batch layout: ``images`` uint8 (B, 3, S, S) (smooth random), ``targets`` (N, 6) = idx, cls, cx, cy, w, h."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randint(0, 256, (batch, 3, imgsz // 16, imgsz // 16), generator=g, dtype=torch.uint8)
    images = torch.nn.functional.interpolate(low.float(), size=(imgsz, imgsz), mode="bilinear").to(torch.uint8)
    n = batch * per_image
    wh = torch.rand(n, 2, generator=g) * 0.3 + 0.03
    cxy = wh / 2 + torch.rand(n, 2, generator=g) * (1 - wh)
    idx = torch.arange(batch).repeat_interleave(per_image).float()[:, None]
    cls = torch.randint(0, nc, (n, 1), generator=g).float()
    return {"images": images, "targets": torch.cat([idx, cls, cxy, wh], 1)}


def to_ul_batch(b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    t = b["targets"]
    return {"img": b["images"], "batch_idx": t[:, 0], "cls": t[:, 1:2], "bboxes": t[:, 2:6]}


# ------------------------------------------------------------------------------------------------------- core step
class CoreStep:
    """One training step of either implementation on a fixed batch (see the module doc); call :meth:`__call__`."""

    def __init__(self, side: str, model: str, nc: int, device: str, precision: str = "32", ema: bool = False,
                 channels_last: bool = False) -> None:
        self.side, self.device, self.dtype = side, device, PRECISIONS[precision]
        if device == "cpu" and self.dtype is torch.float16:
            self.dtype = torch.bfloat16  # as Lightning does: no fp16 autocast on CPU (emulated, ~10x slower)
        self.precision = {None: "32", torch.bfloat16: "bf16-mixed", torch.float16: "16-mixed"}[self.dtype]
        if side == "ours":
            from yolo12l.losses import DetectionLoss
            from yolo12l.models import build_model

            self.net = build_model(model, nc=nc).to(device).train()
            self.criterion = DetectionLoss(nc=nc, strides=tuple(self.net.stride.tolist()))
        else:
            from ultralytics.cfg import get_cfg
            from ultralytics.nn.tasks import DetectionModel

            self.net = DetectionModel(model, nc=nc, verbose=False).to(device).train()
            self.net.args = get_cfg()
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        # each side's optimizer as its trainer builds it: the same three parameter groups (weight decay on conv /
        # linear weights only), SGD Nesterov; ours fused on GPUs (as YOLODetector), Ultralytics' torch's default
        from yolo12l.training.optim import build_optimizer, param_groups

        if side == "ours":
            self.opt = build_optimizer(self.net, "SGD", 0.01, 0.937, 5e-4)
        else:
            self.opt = torch.optim.SGD(param_groups(self.net, 5e-4), lr=0.01, momentum=0.937, nesterov=True)
        self.scaler = torch.amp.GradScaler(device.split(":")[0], enabled=self.dtype is torch.float16)
        self.ema = None
        if ema:
            if side == "ours":
                from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

                self.ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(0.9999), use_buffers=True)
            else:
                from ultralytics.utils.torch_utils import ModelEMA

                self.ema = ModelEMA(self.net)

    def __call__(self, batch: dict[str, torch.Tensor]) -> float:
        """Runs one step; returns the loss (host float, read after the step: one sync, as a progress bar does)."""
        dev = self.device
        imgs = batch["images"].to(dev, non_blocking=True)
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        x = (imgs.float() / 255).contiguous(memory_format=mf)
        ac = torch.autocast(dev.split(":")[0], dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()
        with ac:
            if self.side == "ours":
                # padded on the host, as our train loaders do in their workers (not timed: loader work)
                if "loss_targets" not in batch:
                    from yolo12l.data import with_loss_targets

                    batch.update(with_loss_targets(batch, self.criterion.nc))
                lt = {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v
                      for k, v in batch["loss_targets"].items()}
                total, _ = self.criterion(self.net(x), lt)
            else:
                ub = {k: v.to(dev, non_blocking=True) for k, v in to_ul_batch(batch).items()}
                ub["img"] = x
                loss, _ = self.net(ub)
                total = loss.sum()
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), max_norm=10.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update_parameters(self.net) if self.side == "ours" else self.ema.update(self.net)
        return float(total.detach())


def time_steps(step: CoreStep, batch: dict[str, torch.Tensor], n: int) -> tuple[list[float], list[float]]:
    """(seconds per step, losses) of ``n`` steps."""
    times, losses = [], []
    for _ in range(n):
        with Stopwatch(step.device) as sw:
            losses.append(step(batch))
        times.append(sw.wall)
    return times, losses


# -------------------------------------------------------------------------------------------------- our whole step
def fit_step_times(model: str, nc: int, batch: dict[str, torch.Tensor], steps: int, accelerator: str = "cpu",
                   devices: int = 1, precision: str = "32", strategy: str = "auto",
                   extra_batches: int = 0) -> dict[str, Any]:
    """``YOLODetector`` + ``ModelEMA`` through ``Trainer.fit`` for ``steps`` batches (the same batch); returns the
    seconds between consecutive ``on_train_batch_end`` calls (the first one excluded), losses and peak memory."""
    import lightning as L

    from yolo12l.data import with_loss_targets
    from yolo12l.training import ModelEMA, YOLODetector
    from yolo12l.training.config import EvalConfig, OptimConfig

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []
            self.losses: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, b, batch_idx) -> None:
            sync(str(pl_module.device))
            self.stamps.append(time.perf_counter())
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.losses.append(float(loss.detach()) if loss is not None else float("nan"))

    timer = Timer()
    module = YOLODetector(model=model, num_classes=nc,
                          optim=OptimConfig(optimizer="SGD", warmup_min_iters=0, warmup_epochs=0),
                          evaluation=EvalConfig(save_plots=False))
    trainer = L.Trainer(accelerator=accelerator, devices=devices, strategy=strategy, precision=precision,
                        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=[ModelEMA(), timer])
    data = [with_loss_targets(batch, nc)] * (steps + extra_batches)  # padded on the host, as the train loaders do
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False)
    if accelerator == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, train_dataloaders=loader)
    dts = [b - a for a, b in zip(timer.stamps, timer.stamps[1:])]
    out: dict[str, Any] = {"step_seconds": dts, "losses": timer.losses, "rank": trainer.global_rank,
                           "world_size": trainer.world_size}
    if accelerator == "cuda":
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return out
