"""Lightning fits from LitData shards (StreamingDataModule through scripts/train_run.py --shards): a tiny fit with
validation, 2-rank gloo DDP reading disjoint samples, a SIGKILL mid-epoch then a resume that continues exactly, and
the 2-node loopback job."""
from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

from run_helpers import SCRIPTS, free_port, read_events, run

pytestmark = pytest.mark.xdist_group("multiprocess")  # one xdist worker runs them in turn


@pytest.fixture(scope="module")
def shards(synth_cache, tmp_path_factory):
    """train_run.py's synthetic set (16 train / 8 val) as shards of 8 images."""
    from yolo12l.data import SyntheticDataModule, write_shards

    root = tmp_path_factory.mktemp("fit-shards")
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=0, cache_dir=synth_cache)
    for split in ("train", "val"):
        write_shards(dm, split, root / split, chunk_size=8)
    return root


def _fit(tmp_path, synth_cache, shards, name, *extra, expect=0):
    root = tmp_path / name
    proc = run(["python", str(SCRIPTS / "train_run.py"), "--root", str(root), "--cache-dir", str(synth_cache),
                "--shards", str(shards), "--loss-log", str(root / "events.jsonl"), *extra], expect=expect)
    return root, read_events(root / "events.jsonl"), proc


def _batches(events):
    return [(e["epoch"], e["batch_idx"], e["indices"], e["images_sum"], e["loss"])
            for e in events if e["event"] == "batch"]


def test_fit_from_shards_then_sigkill_mid_epoch_and_resume(synth_cache, shards, tmp_path):
    """2 epochs × 4 batches with validation; then the same run SIGKILLed at epoch 1 batch 3 and resumed from the
    mid-epoch checkpoint written after batch 1: batches 2-3 of epoch 1 are the uninterrupted
    run's batches (indices, pixels, loss), i.e. the LitData loader state came back from the checkpoint."""
    base = ["--epochs", "2", "--ckpt-every-steps", "1"]
    full_root, full, _ = _fit(tmp_path, synth_cache, shards, "full", *base)
    ref = _batches(full)
    assert [(e, b) for e, b, *_ in ref] == [(e, b) for e in (0, 1) for b in range(4)]
    for epoch in (0, 1):
        assert sorted(i for e, _, idx, *_ in ref if e == epoch for i in idx) == list(range(16))
    assert (full_root / "val_metrics.jsonl").read_text().count("\n") == 2  # validated from the val shards
    assert ref[:4] != ref[4:]

    killed_root, killed, _ = _fit(tmp_path, synth_cache, shards, "killed", *base, "--kill-at", "1:3", expect=-9)
    assert _batches(killed) == ref[:7]
    ckpt = killed_root / "step_checkpoints" / "last.ckpt"
    _, resumed, _ = _fit(tmp_path, synth_cache, shards, "killed", *base, "--resume", str(ckpt))
    starts = [e for e in resumed if e["event"] == "start"]
    step_after_b1 = next(e["global_step"] for e in killed
                         if e["event"] == "batch" and (e["epoch"], e["batch_idx"]) == (1, 1))
    assert starts[-1]["epoch"] == 1 and starts[-1]["global_step"] == step_after_b1
    after = [b for b in _batches(resumed)[7:]]
    assert after[0][:2] == (1, 2), after  # resumes at the batch after the checkpoint, not at the epoch start
    assert [b[:4] for b in after] == [b[:4] for b in ref[6:]]
    assert [b[4] for b in after] == pytest.approx([b[4] for b in ref[6:]], rel=1e-5)


def test_ddp_two_ranks_read_disjoint_shard_samples(synth_cache, shards, tmp_path):
    _, events, _ = _fit(tmp_path, synth_cache, shards, "ddp", "--epochs", "1", "--devices", "2", "--strategy",
                        "ddp", "--no-val")
    batches = [e for e in events if e["event"] == "batch"]
    per_rank = {r: [i for e in batches if e["rank"] == r for i in e["indices"]] for r in (0, 1)}
    assert Counter(e["rank"] for e in batches) == {0: 2, 1: 2}
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(16))


def test_two_nodes_on_loopback_read_disjoint_shard_samples(synth_cache, shards, tmp_path):
    out = tmp_path / "run"
    """With validation (from the val shards, 4 images per node), as test_multinode.py: the nodes end with the same
    weights. (Without a validation loop the two ranks' final BatchNorm statistics differ, the folder loader's too.)"""
    run(["bash", str(SCRIPTS / "multinode_loopback.sh"), str(out), str(synth_cache), "--shards", str(shards)],
        timeout=300, PYTHON=sys.executable, MASTER_PORT=str(free_port()), TIMEOUT="240")
    events = read_events(out / "events.jsonl")
    batches = [e for e in events if e["event"] == "batch"]
    per_rank = {r: [i for e in batches if e["rank"] == r for i in e["indices"]] for r in (0, 1)}
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(16))
    ends = {e["rank"]: e for e in events if e["event"] == "end"}
    assert ends[0]["weights_sha1"] == ends[1]["weights_sha1"]
    val = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    assert val[-1]["num_images"] == 8 and val[-1]["num_duplicates"] == 0  # each val image once over both nodes
