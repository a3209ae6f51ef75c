"""``yolo12l tune`` end to end: a pruned TPE search over real 2-process DDP fits (CPU, gloo), best.yaml runnable
with ``yolo12l fit``."""
from __future__ import annotations

import csv
import json

import optuna
import pytest
import yaml
from study_helpers import REPO, fit_overrides, yolo12l

pytestmark = pytest.mark.xdist_group("multiprocess")


def test_tune_under_ddp_prunes_and_writes_a_runnable_best_yaml(tmp_path, datasets_dir, reference_dir):
    out = tmp_path / "out"
    ddp = {"trainer.devices": 2, "trainer.strategy": "ddp"}  # rank 0 reports to Optuna, its decision is broadcast
    tune = {"base": str(REPO / "configs" / "yolo-format.yaml"),
            "overrides": {**fit_overrides(datasets_dir, reference_dir), **ddp},
            "out": str(out), "trials": 3, "seed": 0, "pruner": {"type": "median", "startup_trials": 1,
                                                               "warmup_epochs": 0},
            "space": {"model.optim.lr0": {"low": 1e-4, "high": 1e-2, "log": True},
                      "model.optim.optimizer": {"choices": ["SGD", "AdamW"]},
                      "data.init_args.mosaic": {"low": 0.0, "high": 1.0}}}
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(tune))
    proc = yolo12l("tune", "--config", str(tmp_path / "tune.yaml"), cwd=tmp_path)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log[-4000:]

    study = optuna.load_study(study_name="tune", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "optuna.journal"))))
    assert len(study.trials) == 3 and {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    for t in study.trials:  # the callback reported every epoch's validation; a pruned fit stopped at that epoch
        folder = out / "trials" / f"trial{t.number:03d}"
        records = [json.loads(line) for line in (folder / "logs" / "version_0" / "val_metrics.jsonl").read_text()
                   .splitlines()]
        assert sorted(t.intermediate_values) == [r["epoch"] for r in records]
        assert [t.intermediate_values[r["epoch"]] for r in records] == pytest.approx([r["mAP50-95"] for r in records])
        if t.state.name == "PRUNED":
            assert len(records) == t.user_attrs["pruned_epoch"] + 1 < 2
        else:
            assert len(records) == 2 and t.value == pytest.approx(records[-1]["mAP50-95"])
        assert "MEMBER: 2/2" in (folder / "fit.log").read_text()  # two ranks
        config = yaml.safe_load((folder / "config.yaml").read_text())
        assert config["model"]["optim"]["lr0"] == pytest.approx(t.params["model.optim.lr0"])
    history = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["number"]) for r in history] == [0, 1, 2]
    for name in ("optimization_history", "param_importances", "intermediate_values"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 10_000, log

    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["model"]["optim"]["lr0"] == pytest.approx(study.best_trial.params["model.optim.lr0"])
    assert best["model"]["optim"]["optimizer"] == study.best_trial.params["model.optim.optimizer"]
    assert best["trainer"]["default_root_dir"] == str((out / "best").resolve())
    assert not any("OptunaPruning" in c["class_path"] for c in best["trainer"]["callbacks"])
    fit = yolo12l("fit", "--config", str(out / "best.yaml"), "--trainer.max_epochs", "1", "--trainer.devices", "1",
                  "--trainer.strategy", "auto", cwd=tmp_path)
    log = fit.communicate(timeout=600)[0]
    assert fit.returncode == 0, log[-4000:]
    assert (out / "best" / "logs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
