"""A short fit writes the plots people look at, to plots/ and TensorBoard, and resumes results.png's history."""
from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from yolo12l.data import SyntheticDataModule
from yolo12l.training import YOLODetector
from yolo12l.training.config import OptimConfig
from yolo12l.training.plots import TrainingPlots

PLOTS = ["labels.png", "train_batch0.jpg", "train_batch1.jpg", "train_batch2.jpg", "results.png",
         "val_pr_curve.png", "val_confusion_matrix_normalized.png", "val_P_curve.png", "val_R_curve.png",
         "val_F1_curve.png", "val_batch0_pred.jpg"]


def test_fit_writes_plots_and_tensorboard_images(synth_cache, tmp_path):
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=0, cache_dir=synth_cache, imgsz=64, batch_size=4,
                             num_workers=0, persistent_workers=False, pin_memory=False)
    model = YOLODetector(num_classes=dm.num_classes, class_names=dm.class_names, summary_imgsz=64,
                         optim=OptimConfig(nominal_batch_size=4))
    logger = TensorBoardLogger(tmp_path, name="tb")
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, logger=logger, enable_progress_bar=False,
                        num_sanity_val_steps=0, default_root_dir=tmp_path, limit_train_batches=3,
                        limit_val_batches=1)
    trainer.fit(model, datamodule=dm)
    folder = Path(trainer.log_dir) / "plots"
    for name in PLOTS:
        assert (folder / name).stat().st_size > 3000, name
    cb = next(c for c in trainer.callbacks if isinstance(c, TrainingPlots))
    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert {"train/box_loss", "val/mAP50-95", "lr/pg0"} <= set(cb.history[-1])
    assert (Path(trainer.log_dir) / "predictions.json").is_file()  # the last epoch writes it

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trainer.log_dir), size_guidance={"images": 0})
    events.Reload()
    tags = set(events.Tags()["images"])
    assert {"train_plots/labels", "train_plots/results", "train_plots/train_batch0", "val_plots/val_pr_curve",
            "val_plots/val_confusion_matrix_normalized", "val_plots/val_F1_curve"} <= tags
    # drawn at the last epoch only (matplotlib costs seconds per epoch); the history still has every epoch
    assert len(events.Images("val_plots/val_pr_curve")) == 1 and len(events.Images("train_plots/results")) == 1

    restored = TrainingPlots()
    restored.load_state_dict(cb.state_dict())
    assert restored.history == cb.history


def test_results_panels_tick_whole_epochs_even_for_one(monkeypatch, tmp_path):
    import yolo12l.training.plots as plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or Path(path))
    for n in (1, 5):
        plots.plot_results([{"epoch": e, "train/box_loss": 2.0 - e / 10, "val/mAP50": 0.1 * e}
                            for e in range(1, n + 1)], tmp_path / "results.png")
        for ax in figures[-1].axes[:2]:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
