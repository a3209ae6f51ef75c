"""scripts/device_check.sh --dry-run: the GPU check's code paths on CPU at tiny sizes, writing the full JSON."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from run_helpers import REPO, check, script_env

pytestmark = pytest.mark.xdist_group("multiprocess")  # one xdist worker runs them in turn


def test_device_check_dry_run_writes_every_section(tmp_path):
    out = tmp_path / "out"
    env = script_env(PYTHON=sys.executable, OUT="")
    p = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh"), "--dry-run", str(out)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    check(p, 0, p.stdout + p.stderr)
    rec = json.loads((out / "device_check_dry_run.json").read_text())
    assert rec["dry_run"] is True and rec["errors"] == []
    assert set(rec) >= {"config", "device", "torch", "fit", "loader", "ddp", "goals", "section_s", "wall_s"}
    assert set(rec["fit"]) == {f"{m}|{p}" for m in ("yolo12n.yaml", "yolo12s.yaml")
                               for p in ("bf16-mixed", "16-mixed")}
    for key, r in rec["fit"].items():
        for name in ("ours_fit", "ours_core"):
            assert r[name]["losses_finite"] and r[name]["images_per_s"] > 0, (key, name, r[name])
        assert "ultralytics_core" in r and "ours_core_channels_last" in r
    for name in ("ours", "ours_nobuffer"):
        assert rec["loader"][name]["images_per_s"] > 0
    assert "ultralytics" in rec["loader"] and "gpu_step_rate_images_per_s" in rec["loader"]
    large = rec["large_loader"]
    assert large["images"] == 8 and large["ours"]["images_per_s"] > 0 and 0 < large["ours"]["decodes_per_sample"] <= 2
    assert "ultralytics" in large and {f"ours/{m}_bf16_step_rate" for m in ("yolo12n.yaml", "yolo12s.yaml")} <= set(large)
    assert {k for k in rec["goals"] if k.startswith("large-set loader")} == {
        f"large-set loader >= 1.2x {m} bf16 step rate (16 workers)" for m in ("yolo12n.yaml", "yolo12s.yaml")}
    assert rec["ddp"]["world_size"] == 2 and rec["ddp"]["losses_finite"]
    syncs = rec["host_syncs"]["per_batch"]
    assert len(syncs) == 3 and all(e["host_sync_ops"] == 2 for e in syncs[1:]), syncs  # the loss's two nonzero
    assert all(rec["goals"][f"{k} losses finite"] for k in rec["fit"])


def test_device_check_needs_an_output_folder(tmp_path):
    env = {k: v for k, v in script_env(PYTHON=sys.executable).items() if k != "OUT"}
    p = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh")], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "output folder" in p.stderr
