"""A report never costs a run: a forced error in every plot and in predictions.json during a real ``fit`` is one
warning per file, naming it; the run ends normally, and the last epoch's checkpoints were written before its
evaluation reports were drawn."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from test_precision_matrix import RUN, cli, tiny
from yolo12l.training.reports import ReportErrors, report_file


def test_report_file_turns_an_error_into_a_warning(tmp_path, caplog):
    before = ReportErrors.count
    with caplog.at_level(logging.WARNING, logger="yolo12l.training.reports"):
        with report_file(tmp_path / "x.png"):
            raise RuntimeError("boom")
        with report_file(tmp_path / "y.png"):
            pass
    assert ReportErrors.count == before + 1
    [message] = [r.getMessage() for r in caplog.records]
    assert f"could not write {tmp_path / 'x.png'} (RuntimeError: boom)" in message


def test_fit_survives_forced_report_errors(synth_cache, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["yolo12l"])
    run = tmp_path / RUN / "logs" / "version_0"
    checkpoint_written = {}

    def broken(*args, **kwargs):
        path = Path(next(a for a in (*args, *kwargs.values()) if isinstance(a, (str, Path))))
        checkpoint_written[path.name] = (run / "checkpoints" / "last.ckpt").is_file()
        raise RuntimeError("forced plotting error")

    def broken_json(*args, **kwargs):
        checkpoint_written["predictions.json"] = (run / "checkpoints" / "last.ckpt").is_file()
        raise OSError("No space left on device")

    monkeypatch.setattr("yolo12l.metrics.plots.save_figure", lambda fig, path: broken(path))
    monkeypatch.setattr("yolo12l.training.plots.save_figure", lambda fig, path: broken(path))
    monkeypatch.setattr("yolo12l.data.visualize.plot_batch", lambda batch, names, path: broken(path))
    monkeypatch.setattr("yolo12l.training.eval_reports.save_prediction_grid", lambda preds, names, path: broken(path))
    monkeypatch.setattr("yolo12l.training.eval_reports.coco_results", broken_json)
    with caplog.at_level(logging.WARNING, logger="yolo12l.training.reports"):
        cli(["fit", *tiny(synth_cache, "32-true")])

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0 and (run / "checkpoints" / "best-epoch=000.ckpt").is_file()
    assert (run / "val_metrics.jsonl").is_file()
    evaluation = ["val_pr_curve.png", "val_confusion_matrix_normalized.png", "val_P_curve.png", "val_R_curve.png",
                  "val_F1_curve.png", "val_batch0_pred.jpg", "predictions.json", "results.png"]
    training = ["labels.png", "train_batch0.jpg", "train_batch1.jpg"]
    assert set(checkpoint_written) == set(evaluation + training)
    assert all(checkpoint_written[name] for name in evaluation), checkpoint_written  # saved before its reports
    messages = [r.getMessage() for r in caplog.records]
    for name in evaluation + training:
        folder = run if name == "predictions.json" else run / "plots"  # as the log folder is named: relative
        assert any(f"could not write {(folder / name).relative_to(tmp_path)} (" in m for m in messages), name
    assert not (run / "plots").exists() or not any((run / "plots").iterdir())
