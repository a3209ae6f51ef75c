"""``yolo12l compare`` end to end with real fits: two processes share a grid, kill -9 and resume, and the table's
numbers recomputed from the run folders (params / GFLOPs from ``yolo12l info``)."""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import statistics
import time
from pathlib import Path

import optuna
import pytest
import torch
from study_helpers import yolo12l

from yolo12l.cli import main

pytestmark = pytest.mark.xdist_group("multiprocess")  # subprocess-heavy: one xdist worker runs them in turn

ATTEMPT = re.compile(r"^# \d{4}-\d\d-\d\d .* fit --config (\S+)( --ckpt_path (\S+))?$", re.MULTILINE)


def attempts(run: Path) -> list[re.Match]:
    return list(ATTEMPT.finditer((run / "fit.log").read_text()))


def final_records(run: Path) -> dict:
    """The last validation record of a run, read straight from its logs (not from result.json)."""
    records = {}
    for f in sorted(run.glob("logs/version_*/val_metrics.jsonl")):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            records[rec["epoch"]] = rec
    return records


def info_numbers(capsys, model: str) -> tuple[int, str]:
    assert main(["info", "--model", model, "--nc", "3", "--imgsz", "64", "--quiet"]) == 0
    m = re.search(r"([\d,]+) parameters, ([\d.]+) GFLOPs at 64x64", capsys.readouterr().out)
    return int(m.group(1).replace(",", "")), m.group(2)


def test_two_processes_split_a_grid_and_the_table_is_recomputable(make_study, tmp_path, capsys):
    study = make_study({"yolo12n": {}, "halo": {"model.model": "yolo12n-halo.yaml"}}, [0, 1])
    out = tmp_path / "out"
    procs = [yolo12l("compare", "--config", str(study), cwd=tmp_path) for _ in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]
    # every run trained exactly once, by one of the two processes, and both processes trained
    trained_by = {}
    for i, log in enumerate(logs):
        for name in re.findall(r"^compare: (\S+): training", log, re.MULTILINE):
            assert name not in trained_by, f"{name} trained twice"
            trained_by[name] = i
    assert sorted(trained_by) == ["halo/seed0", "halo/seed1", "yolo12n/seed0", "yolo12n/seed1"]
    assert set(trained_by.values()) == {0, 1}, trained_by
    for name in trained_by:
        assert len(attempts(out / "runs" / name)) == 1
    trials = optuna.load_study(study_name="compare",
                               storage=optuna.storages.JournalStorage(
                                   optuna.storages.journal.JournalFileBackend(str(out / "optuna.journal")))).trials
    assert sorted(t.state.name for t in trials) == ["COMPLETE"] * 4

    rows = {r["variant"]: r for r in csv.DictReader((out / "study.csv").open())}
    assert list(rows) == ["yolo12n", "halo"]
    finals = {v: [final_records(out / "runs" / v / f"seed{s}") for s in (0, 1)] for v in rows}
    for variant, row in rows.items():
        assert row["n"] == "2"
        for key in ("mAP50-95", "mAP50"):
            values = [recs[max(recs)][key] for recs in finals[variant]]
            assert all(max(recs) == 1 for recs in finals[variant])  # the last of the two epochs
            assert float(row[f"{key}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-12)
            assert float(row[f"{key}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
        params, gflops = info_numbers(capsys, {"yolo12n": "yolo12n.yaml", "halo": "yolo12n-halo.yaml"}[variant])
        assert int(row["params"]) == params and f"{float(row['gflops']):.2f}" == gflops
        assert float(row["latency_ms"]) > 0 and float(row["latency_p95_ms"]) >= float(row["latency_ms"])
    base = [recs[1]["mAP50-95"] for recs in finals["yolo12n"]]
    halo = [recs[1]["mAP50-95"] for recs in finals["halo"]]
    assert float(rows["halo"]["delta_mAP50-95"]) == pytest.approx(statistics.fmean(h - b for b, h in zip(base, halo)))
    assert rows["halo"]["n_pairs"] == "2" and 0 <= float(rows["halo"]["p_value"]) <= 1
    assert any(v > 0 for v in base + halo)  # fine-tuned from the shapes checkpoint: real detections
    md = (out / "study.md").read_text()
    assert "| yolo12n | 2 |" in md and "final epoch, EMA weights" in md
    assert "\\toprule" in (out / "study.tex").read_text()
    assert json.loads((out / "study.json").read_text())["latency"]["halo"]["protocol"]["fused"]
    for name in ("val_map_per_epoch", "map_vs_latency", "map_vs_gflops"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 10_000
    printed = logs[0] + logs[1]
    assert "mAP50-95" in printed and "written:" in printed


def _fit_processes(config: Path) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if str(config) in (d / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see that the fit died with its driver")
def test_kill_9_then_only_unfinished_runs_train(make_study, tmp_path):
    study = make_study({"yolo12n": {}}, [0, 1], epochs=3)
    out = tmp_path / "out"
    seed0, seed1 = out / "runs" / "yolo12n" / "seed0", out / "runs" / "yolo12n" / "seed1"
    driver = yolo12l("compare", "--config", str(study), cwd=tmp_path)
    deadline = time.monotonic() + 400
    while not ((seed0 / "result.json").is_file() and list(seed1.glob("logs/version_*/checkpoints/last.ckpt"))):
        assert driver.poll() is None, driver.communicate()[0][-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate()
    for _ in range(100):  # the fit dies with its driver
        if not _fit_processes(seed1 / "config.yaml"):
            break
        time.sleep(0.1)
    assert not _fit_processes(seed1 / "config.yaml")
    assert not (seed1 / "result.json").exists()
    ckpt = seed1 / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    killed_at = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]
    assert killed_at < 2

    again = yolo12l("compare", "--config", str(study), cwd=tmp_path)
    log = again.communicate(timeout=600)[0]
    assert again.returncode == 0, log[-4000:]
    assert "compare: 1 of 2 runs queued" in log and "seed0" not in log.split("compare: 1 of 2 runs queued")[1]
    assert f"yolo12n/seed1: resuming from {ckpt}" in log
    assert len(attempts(seed0)) == 1
    first, second = attempts(seed1)
    assert first.group(2) is None and second.group(3) == str(ckpt)
    assert sorted(final_records(seed1)) == [0, 1, 2]
    assert json.loads((seed1 / "result.json").read_text())["epochs"] == 3
    row = next(csv.DictReader((out / "study.csv").open()))
    assert row["n"] == "2" and row["failed"] == ""


def test_a_failed_run_is_named_and_counted(make_study, tmp_path):
    study = make_study({"broken": {"model.model": "no-such-model.yaml"}}, [0])
    proc = yolo12l("compare", "--config", str(study), cwd=tmp_path)
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 1, log[-4000:]  # the table is written, the exit status says not everything finished
    assert "compare: broken/seed0: FAILED (exit status 2)" in log and "no-such-model.yaml" in log
    out = tmp_path / "out"
    row = next(csv.DictReader((out / "study.csv").open()))
    assert row["variant"] == "broken" and row["n"] == "0" and row["failed"] == "broken/seed0"
    assert "not in the table (failed or unfinished): broken/seed0" in (out / "study.md").read_text()
    assert json.loads((out / "runs" / "broken" / "seed0" / "failed.json").read_text())["returncode"] == 2
