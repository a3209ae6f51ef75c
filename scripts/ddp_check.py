"""Validation of the same weights on the same data with N processes (DDP, gloo on CPU) — results as JSON.

    python scripts/ddp_check.py --out runs/ddp2 --cache-dir /tmp/c --devices 2
    python scripts/ddp_check.py --out runs/ddp1 --cache-dir /tmp/c --devices 1

With ``--devices 2`` Lightning's ``ddp`` strategy re-launches this script once per extra rank. Every rank builds the
model after ``seed_everything`` (identical weights everywhere, checked by a digest) and runs ``Trainer.validate``
twice over the synthetic val set (default 9 images in batches of 2, so the DistributedSampler pads one duplicate):

* ``model``: the network's own detections;
* ``oracle``: the module's ``detect`` replaced by ground-truth boxes jittered deterministically per image (plus one
  false positive each), so the mAP is far from 0 and a wrong merge of the ranks' states would show in it.

Each rank writes ``<out>/rank<r>.json``: ``{"rank", "world_size", "weights_sha1", "runs": {name: {"image_ids": ids
this rank evaluated, in order, "result": the metric's compute() (all keys, lists for vectors), "logged":
val/* metrics from trainer.callback_metrics, "detections": {image_id: [count, sum of scores, sum of box
coordinates]} of this rank's model detections (``model`` run only)}}}``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo12l.data import SyntheticDataModule  # noqa: E402
from yolo12l.training import YOLODetector  # noqa: E402
from yolo12l.training.config import EvalConfig  # noqa: E402

from train_run import weights_digest  # noqa: E402  (scripts/train_run.py, beside this file)


class SeenImages(L.Callback):
    """Records the image ids this rank evaluated."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.ids += [int(m["image_id"]) for m in batch["meta"]]


def oracle_detect(batch: dict[str, Any], conf: float | None = None) -> list[dict[str, torch.Tensor]]:
    """Ground truth moved by up to ±8 % of the box size, scores from a per-image generator, one false positive."""
    out = []
    for meta in batch["meta"]:
        g = torch.Generator().manual_seed(int(meta["image_id"]))
        gt = torch.as_tensor(meta["boxes"], dtype=torch.float32).reshape(-1, 4)
        wh = (gt[:, 2:] - gt[:, :2]).repeat(1, 2)
        boxes = gt + (torch.rand(gt.shape, generator=g) - 0.5) * 0.16 * wh
        labels = torch.as_tensor(meta["labels"], dtype=torch.long).reshape(-1)
        h, w = meta["orig_shape"]
        fp = torch.tensor([[0.1 * w, 0.1 * h, 0.3 * w, 0.3 * h]])
        boxes = torch.cat([boxes, fp])
        labels = torch.cat([labels, torch.randint(0, 5, (1,), generator=g)])
        scores = torch.rand(len(boxes), generator=g) * 0.9 + 0.05
        out.append({"boxes": boxes, "scores": scores, "labels": labels})
    return out


def _jsonable(result: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir", required=True)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--num-val", type=int, default=9)
    p.add_argument("--val-batch", type=int, default=2)
    p.add_argument("--imgsz", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="yolo12n.yaml")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    L.seed_everything(args.seed, verbose=False)
    dm = SyntheticDataModule(num_train=16, num_val=args.num_val, imgsz=args.imgsz, batch_size=args.val_batch,
                             num_workers=0, pin_memory=False, seed=0, cache_dir=args.cache_dir)
    model = YOLODetector(model=args.model, num_classes=dm.num_classes, class_names=dm.class_names,
                         label_to_category_id=dm.label_to_category_id, evaluation=EvalConfig(save_plots=False))
    out = Path(args.out)
    seen = SeenImages()
    trainer = L.Trainer(accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto",
                        logger=False, default_root_dir=out, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[seen])
    results: dict[str, dict[str, torch.Tensor]] = {}
    compute = model.val_map.compute  # torchmetrics' wrapped compute (syncs the ranks' states first)

    def capture() -> dict[str, torch.Tensor]:
        results["last"] = compute()
        return results["last"]

    model.val_map.compute = capture
    detections: dict[int, list[float]] = {}
    detect = model.detect

    def recording_detect(batch: dict[str, Any], conf: float | None = None) -> list[dict[str, torch.Tensor]]:
        preds = detect(batch, conf)
        for meta, pr in zip(batch["meta"], preds):
            detections[int(meta["image_id"])] = [len(pr["scores"]), float(pr["scores"].double().sum()),
                                                 float(pr["boxes"].double().sum())]
        return preds

    record: dict[str, Any] = {"weights_sha1": weights_digest(model), "runs": {}}
    for name in ("model", "oracle"):
        model.detect = recording_detect if name == "model" else oracle_detect
        seen.ids = []
        detections.clear()
        trainer.validate(model, datamodule=dm, verbose=False)
        logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        record["runs"][name] = {"image_ids": list(seen.ids), "result": _jsonable(results.pop("last")),
                                "logged": logged, "detections": {str(k): v for k, v in detections.items()}}
    record.update(rank=trainer.global_rank, world_size=trainer.world_size)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
