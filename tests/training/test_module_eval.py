"""Validation logs COCO and VOC-style mAP computed on the same detections, mapped to original pixels."""
from __future__ import annotations

import lightning as L
import pytest
import torch

from yolo12l.data import SyntheticDataModule
from yolo12l.metrics import COCOMeanAveragePrecision, VOCMeanAveragePrecision
from yolo12l.training import YOLODetector
from yolo12l.training.config import EvalConfig


def test_validation_logs_coco_and_voc_map_of_the_same_detections(synth_cache, monkeypatch, tmp_path):
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=0, cache_dir=synth_cache, imgsz=64, batch_size=4,
                             num_workers=0, persistent_workers=False, pin_memory=False)
    model = YOLODetector(num_classes=dm.num_classes, class_names=dm.class_names,
                         evaluation=EvalConfig(save_plots=False))
    seen: list[tuple[dict, dict]] = []
    g = torch.Generator().manual_seed(0)

    def oracle(batch, conf=None):
        """Ground truth with jitter, a wrong class on every third box, and one false positive per image."""
        out = []
        for meta in batch["meta"]:
            gt = torch.as_tensor(meta["boxes"], dtype=torch.float32).reshape(-1, 4)
            labels = torch.as_tensor(meta["labels"]).reshape(-1).clone()
            labels[::3] = (labels[::3] + 1) % dm.num_classes
            boxes = torch.cat([gt + torch.randn(gt.shape, generator=g) * 2, torch.tensor([[0.0, 0.0, 9.0, 9.0]])])
            pred = {"boxes": boxes, "scores": torch.rand(len(boxes), generator=g),
                    "labels": torch.cat([labels, torch.tensor([0])]).long()}
            out.append(pred)
            seen.append((pred, {"boxes": gt, "labels": torch.as_tensor(meta["labels"]).reshape(-1).long(),
                                "image_id": int(meta["image_id"])}))
        return out

    monkeypatch.setattr(model, "detect", oracle)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    metrics = trainer.validate(model, datamodule=dm)[0]
    coco, voc = COCOMeanAveragePrecision(num_classes=dm.num_classes), VOCMeanAveragePrecision(dm.num_classes)
    for pred, target in seen:
        coco.update([pred], [target])
        voc.update([pred], [target])
    assert 0.2 < metrics["val/mAP50"] < 1.0
    assert metrics["val/mAP50-95"] == pytest.approx(float(coco.compute()["mAP50-95"]), abs=1e-6)
    assert metrics["val/mAP50_voc"] == pytest.approx(float(voc.compute()["mAP50"]), abs=1e-6)


def test_evaluation_only_runs_use_a_fused_copy(synth_cache, tmp_path):
    """validate / predict outside fit run a fused copy (same detections up to rounding); the module's own network
    stays unfused and trainable."""
    dm = SyntheticDataModule(num_train=16, num_val=4, seed=0, cache_dir=synth_cache, imgsz=64, batch_size=4,
                             num_workers=0, persistent_workers=False, pin_memory=False)
    model = YOLODetector(num_classes=dm.num_classes, class_names=dm.class_names, summary_imgsz=0,
                         evaluation=EvalConfig(save_plots=False, save_json=False, conf_thres=0.0001))
    seen = []

    class Spy(L.Callback):
        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            fused = pl_module.fused_net
            seen.append(fused is not None and fused.fused and not getattr(pl_module.net, "fused", False))
            unfused = pl_module.net.eval()
            with torch.no_grad():
                x = batch["images"].float() / 255
                a, b = fused(x), unfused(x)
            seen.append(bool(((a[:, :4] - b[:, :4]).abs().amax(1) <= 1e-3 * b[:, 2:4].amax(1).clamp(min=1)).all()
                             and (a[:, 4:] - b[:, 4:]).abs().max() < 1e-4))

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path, callbacks=[Spy()])
    trainer.validate(model, datamodule=dm)
    assert seen and all(seen), seen
    assert model.fused_net is None and not getattr(model.net, "fused", False)
    model.net.train()  # still trainable
