"""A tiny, fully seeded training run on the synthetic shapes dataset, for resume / DDP / multi-node checks.

    python scripts/train_run.py --root runs/a --cache-dir /tmp/c --epochs 3 --loss-log runs/a/losses.jsonl
    python scripts/train_run.py ... --kill-at 1:1            # SIGKILL at epoch 1 (0-based), batch 1
    python scripts/train_run.py ... --resume runs/b/checkpoints/last.ckpt
    python scripts/train_run.py ... --shards S --ckpt-every-steps 1   # LitData shards S/train, S/val; mid-epoch ckpts
    python scripts/train_run.py ... --devices 2 --strategy ddp           # Lightning re-launches this script
    torchrun --nnodes 2 --nproc-per-node 1 ... scripts/train_run.py ... --num-nodes 2 --strategy ddp

Checkpoints (``ModelCheckpoint(every_n_epochs=1, save_last=True)`` through :class:`AtomicCheckpointIO`) go to
``<root>/checkpoints``. ``--loss-log`` gets one JSON line per event (every rank appends to it; lines are short and
written with one ``write`` in append mode, so they don't interleave):

* ``{"event": "start", "rank", "epoch", "global_step"}`` at ``on_train_start`` (after a resume has been restored);
* ``{"event": "batch", "rank", "epoch", "batch_idx", "global_step", "loss", "indices", "images_sum", "lr"}`` per
  training batch (``loss``: the unscaled total loss of the batch, ``indices``: its dataset indices, ``images_sum``:
  a checksum of its uint8 images);
* ``{"event": "end", "rank", "epoch", "global_step", "skipped_steps", "weights_sha1", "weights_finite"}`` at
  ``on_train_end`` (the weights are then the EMA weights).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from yolo12l.data import StreamingDataModule, SyntheticDataModule  # noqa: E402
from yolo12l.training import AtomicCheckpointIO, ModelEMA, YOLODetector  # noqa: E402
from yolo12l.training.config import EvalConfig, OptimConfig  # noqa: E402


class EventLog(Callback):
    """Appends the JSON lines described in the module docstring to ``path``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, trainer: L.Trainer, **record: Any) -> None:
        record = {"rank": trainer.global_rank, **record}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def on_train_start(self, trainer, pl_module) -> None:
        self._write(trainer, event="start", epoch=trainer.current_epoch, global_step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) and "loss" in outputs else outputs
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self._write(trainer, event="batch", epoch=trainer.current_epoch, batch_idx=batch_idx,
                    global_step=trainer.global_step, loss=float(loss) if loss is not None else None,
                    indices=[int(m["index"]) for m in batch["meta"]],
                    images_sum=int(batch["images"].sum()), lr=lr)

    def on_train_end(self, trainer, pl_module) -> None:
        self._write(trainer, event="end", epoch=trainer.current_epoch, global_step=trainer.global_step,
                    skipped_steps=pl_module.skipped_steps, weights_sha1=weights_digest(pl_module),
                    weights_finite=all(bool(torch.isfinite(t).all()) for t in pl_module.state_dict().values()
                                       if t.is_floating_point()))


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-1 of all parameters and buffers (bit-exact comparison across processes)."""
    h = hashlib.sha1()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class NaNLossAt(Callback):
    """Makes the criterion return a NaN loss for one batch ``(epoch, batch_idx)`` on one rank (None: all ranks)."""

    def __init__(self, epoch: int, batch_idx: int, rank: int | None = None):
        self.at, self.rank = (epoch, batch_idx), rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == self.at and self.rank in (None, trainer.global_rank):
            forward = type(pl_module.criterion).forward.__get__(pl_module.criterion)

            def nan_loss(*args, **kwargs):
                total, items = forward(*args, **kwargs)
                return total * float("nan"), items

            pl_module.criterion.forward = nan_loss

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.criterion.__dict__.pop("forward", None)


class KillAt(Callback):
    """SIGKILLs this process (no clean-up, like a crash or an OOM kill) when ``(epoch, batch_idx)`` starts."""

    def __init__(self, epoch: int, batch_idx: int):
        self.at = (epoch, batch_idx)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="run folder (checkpoints/, logs)")
    p.add_argument("--cache-dir", required=True, help="synthetic dataset + annotation cache folder")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="yolo12n.yaml")
    p.add_argument("--num-train", type=int, default=16)
    p.add_argument("--num-val", type=int, default=8)
    p.add_argument("--imgsz", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--nominal-batch", type=int, default=8, help="gradients accumulate to this global batch")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--close-mosaic", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per process")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--no-val", action="store_true", help="no validation loop")
    p.add_argument("--loss-log", help="JSON-lines event log (see the module docstring)")
    p.add_argument("--kill-at", help="EPOCH:BATCH (0-based) at which to SIGKILL this process")
    p.add_argument("--resume", help="checkpoint to resume from (Trainer.fit ckpt_path)")
    p.add_argument("--nan-at", help="EPOCH:BATCH[:RANK]: NaN loss for that batch (on that rank only)")
    p.add_argument("--shards", help="train from LitData shards (StreamingDataModule): folder with train/ and val/")
    p.add_argument("--ckpt-every-steps", type=int,
                   help="also save step_checkpoints/last.ckpt every N optimizer steps (mid-epoch)")
    return p.parse_args(argv)


def build(args: argparse.Namespace) -> tuple[L.Trainer, YOLODetector, SyntheticDataModule]:
    """Seeds everything, then builds the DataModule, module and Trainer exactly the same way in every run."""
    torch.set_num_threads(args.threads)
    L.seed_everything(args.seed, workers=True, verbose=False)
    if args.shards:
        shards = Path(args.shards)
        dm = StreamingDataModule(input_dir=str(shards / "train"), val_dir=str(shards / "val"), imgsz=args.imgsz,
                                 batch_size=args.batch, num_workers=args.workers, pin_memory=False,
                                 close_mosaic=args.close_mosaic, seed=0)
    else:
        dm = SyntheticDataModule(num_train=args.num_train, num_val=args.num_val, imgsz=args.imgsz,
                                 batch_size=args.batch, num_workers=args.workers, persistent_workers=args.workers > 0,
                                 pin_memory=False, close_mosaic=args.close_mosaic, seed=0, cache_dir=args.cache_dir)
    model = YOLODetector(model=args.model, num_classes=dm.num_classes, class_names=dm.class_names,
                         label_to_category_id=dm.label_to_category_id,
                         optim=OptimConfig(warmup_epochs=1.0, nominal_batch_size=args.nominal_batch),
                         evaluation=EvalConfig(save_plots=False))
    root = Path(args.root)
    callbacks: list[Callback] = [
        ModelEMA(),
        ModelCheckpoint(dirpath=root / "checkpoints", every_n_epochs=1, save_last=True, save_top_k=-1,
                        filename="{epoch}"),
    ]
    if args.ckpt_every_steps:
        callbacks.append(ModelCheckpoint(dirpath=root / "step_checkpoints", every_n_train_steps=args.ckpt_every_steps,
                                         save_last=True, save_top_k=0))
    if args.loss_log:
        callbacks.append(EventLog(args.loss_log))
    if args.kill_at:
        e, b = (int(v) for v in args.kill_at.split(":"))
        callbacks.append(KillAt(e, b))
    if args.nan_at:
        e, b, *r = (int(v) for v in args.nan_at.split(":"))
        callbacks.append(NaNLossAt(e, b, r[0] if r else None))
    trainer = L.Trainer(
        accelerator="cpu", devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
        max_epochs=args.epochs, precision="32-true", default_root_dir=root, logger=False,
        callbacks=callbacks, plugins=[AtomicCheckpointIO()], enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0 if args.no_val else None,
        log_every_n_steps=1,
    )
    return trainer, model, dm


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trainer, model, dm = build(args)
    trainer.fit(model, datamodule=dm, ckpt_path=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
