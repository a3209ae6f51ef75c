"""SIGKILL + resume reproduces an uninterrupted run exactly (subprocesses running scripts/train_run.py).

A: 3 epochs × 4 batches (batch 4, nominal batch 12, one warmup epoch: the accumulation ramps from 1 to 3, and the
   optimizer steps after global batches 0, 2, 5, 8, 11), uninterrupted.
B: the same, SIGKILLed at the start of epoch 1's second batch, after epoch 0's checkpoint was written (holding the
   gradients of batch 3, which epoch 1's first step still accumulates), and after one batch of epoch 1 had already
   accumulated gradients.
C: resumes B from ``last.ckpt`` with 2 DataLoader workers (A and B use none): the data a sample gets must not
   depend on workers or on the process's RNG history.
"""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch

from run_helpers import REPO, SCRIPTS, assert_same_training_state, check, read_events, run, script_env

EPOCHS = 3
STEPS = [0, 2, 5, 8, 11]  # StepSchedule(3, 4, 4, OptimConfig(nominal_batch_size=12))


def test_sigkill_then_resume_equals_uninterrupted_run(synth_cache, tmp_path):
    common = [sys.executable, str(SCRIPTS / "train_run.py"), "--cache-dir", str(synth_cache),
              "--epochs", str(EPOCHS), "--seed", "0", "--nominal-batch", "12"]
    a_root, b_root = tmp_path / "a", tmp_path / "b"
    # A and B at the same time: one thread each on the 2-core box
    procs = {
        "a": subprocess.Popen(common + ["--root", str(a_root), "--loss-log", str(a_root / "events.jsonl")],
                              cwd=REPO, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True),
        "b": subprocess.Popen(common + ["--root", str(b_root), "--loss-log", str(b_root / "events.jsonl"),
                                        "--kill-at", "1:1"],
                              cwd=REPO, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True),
    }
    outs = {k: p.communicate(timeout=240)[0] for k, p in procs.items()}
    check(procs["a"], 0, outs["a"])
    check(procs["b"], -signal.SIGKILL, outs["b"])

    # B died after epoch 0's checkpoint; the atomic writer left no partial files behind
    ckpt_dir = b_root / "checkpoints"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["epoch=0.ckpt", "last.ckpt"]
    saved = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0 and saved["global_step"] == 2
    acc = saved["accumulation"]  # batch 3's gradients wait for the step after batch 5
    assert acc["last_step_batch"] == 2 and acc["grads"] is not None and not acc["skip_step"]
    events_a = read_events(a_root / "events.jsonl")
    events_b = read_events(b_root / "events.jsonl")
    batches_a = {(e["epoch"], e["batch_idx"]): e for e in events_a if e["event"] == "batch"}
    batches_b = [e for e in events_b if e["event"] == "batch"]
    assert [(e["epoch"], e["batch_idx"]) for e in batches_b] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    for e in batches_b:  # two fresh processes with the same seed: identical
        assert e == batches_a[(e["epoch"], e["batch_idx"])]

    c_log = tmp_path / "c_events.jsonl"
    run(common + ["--root", str(b_root), "--loss-log", str(c_log), "--workers", "2",
                  "--resume", str(ckpt_dir / "last.ckpt")])
    events_c = read_events(c_log)
    start = next(e for e in events_c if e["event"] == "start")
    assert (start["epoch"], start["global_step"]) == (saved["epoch"] + 1, saved["global_step"])
    batches_c = [e for e in events_c if e["event"] == "batch"]
    expected = [batches_a[k] for k in sorted(batches_a) if k[0] >= 1]
    assert [(e["epoch"], e["batch_idx"], e["global_step"]) for e in batches_c] == \
        [(e["epoch"], e["batch_idx"], e["global_step"]) for e in expected]
    for got, want in zip(batches_c, expected):
        where = (got["epoch"], got["batch_idx"])
        assert got["images_sum"] == want["images_sum"], f"different batch at {where}"
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5), f"loss at {where}"
        assert got["lr"] == pytest.approx(want["lr"], rel=1e-12), f"lr at {where}"

    final_a = torch.load(a_root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    final_c = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert (final_c["epoch"], final_c["global_step"]) == (EPOCHS - 1, len(STEPS))
    assert [e["global_step"] for e in events_a if e["event"] == "batch"] == \
        [sum(s <= ni for s in STEPS) for ni in range(4 * EPOCHS)]
    assert_same_training_state(final_a, final_c)
