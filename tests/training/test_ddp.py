"""Real 2-process DDP on CPU (gloo), launched by Lightning's ``ddp`` strategy from the scripts under scripts/."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from run_helpers import REPO, SCRIPTS, check, read_events, run, script_env

pytestmark = pytest.mark.xdist_group("multiprocess")  # one xdist worker runs them in turn


def test_ddp_validation_equals_single_process(synth_cache, tmp_path):
    """9 val images, batch 2, 2 ranks: the DistributedSampler pads one duplicate; the metric drops it and the
    numbers equal a single-process validation of the same weights."""
    procs = {
        n: subprocess.Popen([sys.executable, str(SCRIPTS / "ddp_check.py"), "--out", str(tmp_path / f"d{n}"),
                             "--cache-dir", str(synth_cache), "--devices", str(n)],
                            cwd=REPO, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for n in (1, 2)
    }
    outs = {n: p.communicate(timeout=240)[0] for n, p in procs.items()}
    for n, p in procs.items():
        check(p, 0, outs[n])
    single = json.loads((tmp_path / "d1" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "d2" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and single["world_size"] == 1
    assert single["weights_sha1"] == ranks[0]["weights_sha1"] == ranks[1]["weights_sha1"]

    for name in ("model", "oracle"):
        one = single["runs"][name]
        assert sorted(one["image_ids"]) == list(range(1, 10))
        seen = Counter(i for r in ranks for i in r["runs"][name]["image_ids"])
        assert set(seen) == set(range(1, 10)) and sum(seen.values()) == 10  # 9 images + 1 padding duplicate
        for r in ranks:
            res = r["runs"][name]["result"]
            assert res["num_images"] == 9 and res["num_duplicates"] == 1  # every image counted exactly once
            assert one["result"]["num_duplicates"] == 0
            for key, value in one["result"].items():
                if key != "num_duplicates":
                    assert res[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
            assert r["runs"][name]["logged"] == pytest.approx(one["logged"], rel=1e-7)
        if name == "model":  # same weights, same image → same detections, whichever rank evaluated it
            for r in ranks:
                for image_id, det in r["runs"][name]["detections"].items():
                    want = one["detections"][image_id]
                    assert det[0] == want[0] and det[1:] == pytest.approx(want[1:], rel=1e-5), image_id
    # the untrained network scores ~0; the oracle detections make the merged-state comparison meaningful
    assert single["runs"]["oracle"]["result"]["mAP50-95"] > 0.3
    assert sum(d[0] for d in single["runs"]["model"]["detections"].values()) > 0


def test_ddp_fit_one_epoch_with_nan_on_one_rank(synth_cache, tmp_path):
    """2 ranks × batch 2, accumulation 2: one epoch runs to the end (validation and checkpoint included). A NaN loss
    on rank 1 only makes both ranks skip that optimizer step; the ranks end with bit-identical finite weights."""
    log = tmp_path / "events.jsonl"
    proc = run([sys.executable, str(SCRIPTS / "train_run.py"), "--root", str(tmp_path), "--cache-dir",
                str(synth_cache), "--epochs", "1", "--batch", "2", "--nominal-batch", "8", "--devices", "2",
                "--strategy", "ddp", "--loss-log", str(log), "--nan-at", "0:1:1"])
    assert "sync_dist" not in proc.stdout + proc.stderr  # the metrics are logged with an (exact) sync
    events = read_events(log)
    ends = {e["rank"]: e for e in events if e["event"] == "end"}
    assert set(ends) == {0, 1}
    for e in ends.values():
        assert e["global_step"] == 2 and e["skipped_steps"] == 1 and e["weights_finite"]
    assert ends[0]["weights_sha1"] == ends[1]["weights_sha1"]
    batches = [e for e in events if e["event"] == "batch"]
    assert Counter(e["rank"] for e in batches) == {0: 4, 1: 4}
    indices = [i for e in batches for i in e["indices"]]
    assert sorted(indices) == list(range(16))  # the ranks split the epoch without overlap
    val = [json.loads(line) for line in (tmp_path / "val_metrics.jsonl").read_text().splitlines()]
    assert len(val) == 1 and val[0]["num_images"] == 8 and val[0]["num_duplicates"] == 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
