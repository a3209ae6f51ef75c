"""Two "nodes" on loopback: scripts/multinode_loopback.sh starts two torchrun launchers (one process each)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from run_helpers import SCRIPTS, free_port, read_events, run

pytestmark = pytest.mark.xdist_group("multiprocess")  # one xdist worker runs them in turn


def test_two_nodes_on_loopback_complete_one_epoch(synth_cache, tmp_path):
    out = tmp_path / "run"
    proc = run(["bash", str(SCRIPTS / "multinode_loopback.sh"), str(out), str(synth_cache)], timeout=300,
               PYTHON=sys.executable, MASTER_PORT=str(free_port()), TIMEOUT="240")
    logs = {r: (out / f"node{r}.log").read_text() for r in (0, 1)}
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs[1], proc.stdout
    events = read_events(out / "events.jsonl")
    ends = {e["rank"]: e for e in events if e["event"] == "end"}
    assert set(ends) == {0, 1}
    assert ends[0]["epoch"] == ends[1]["epoch"] == 1  # one full epoch
    # 16 images over 2 nodes × batch 4 = global batch 8 = nominal batch: no accumulation, 2 optimizer steps
    assert ends[0]["global_step"] == ends[1]["global_step"] == 2
    assert ends[0]["weights_sha1"] == ends[1]["weights_sha1"] and ends[0]["weights_finite"]
    batches = [e for e in events if e["event"] == "batch"]
    assert Counter(e["rank"] for e in batches) == {0: 2, 1: 2}
    assert sorted(i for e in batches for i in e["indices"]) == list(range(16))  # the nodes split the data
    val = [json.loads(line) for line in Path(out / "val_metrics.jsonl").read_text().splitlines()]
    assert len(val) == 1 and val[0]["num_images"] == 8 and val[0]["num_duplicates"] == 0
    assert (out / "checkpoints" / "last.ckpt").is_file()
