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
    assert set(rec) >= {"config", "device", "torch", "fit", "loader", "ddp", "precision", "goals", "section_s",
                        "wall_s"}
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
    assert large["images"] == 8 and large["ours"]["images_per_s"] > 0 and 0 <= large["ours"]["decodes_per_sample"] <= 2
    assert "ultralytics" in large
    assert {f"ours/{m}_bf16_step_rate" for m in ("yolo12n.yaml", "yolo12s.yaml")} <= set(large)
    assert {k for k in rec["goals"] if k.startswith("large-set loader")} == {
        f"large-set loader >= 1.2x {m} bf16 step rate (16 workers)" for m in ("yolo12n.yaml", "yolo12s.yaml")}
    assert rec["ddp"]["world_size"] == 2 and rec["ddp"]["losses_finite"]
    syncs = rec["host_syncs"]["per_batch"]
    assert len(syncs) == 3 and all(e["host_sync_ops"] == 2 for e in syncs[1:]), syncs  # the loss's two nonzero
    assert all(rec["goals"][f"{k} losses finite"] for k in rec["fit"])
    # the GPU half of the precision matrix, on CPU: both cells and bf16 DDP ran every command (16-mixed as bf16)
    prec = rec["precision"]
    assert prec["ok"] == {"16-mixed": True, "bf16-mixed": True, "ddp_bf16": True}, prec
    for precision, cell in prec["cells"].items():
        assert list(cell["commands"]) == ["fit", "validate", "test", "predict", "export"], precision
        assert cell["commands"]["fit"]["ran"]["precision"] == "bf16-mixed"  # Lightning's CPU substitute for fp16
        assert cell["fit"]["grad_scaler_scale"] is None and cell["fit"]["losses_finite"]
    assert set(prec["ddp_bf16"]["ran"]) == {"0", "1"}
    for key in ("bfloat16|unmasked", "bfloat16|masked", "float16|unmasked", "float16|masked"):
        sdpa = prec["sdpa"][key]
        assert sdpa["default_op"] and all(op.startswith("aten::_scaled_dot_product") for op in sdpa["default_op"])
        assert sdpa["math_ms"] > 0 and {"flash_ms", "efficient_ms", "cudnn_ms"} <= set(sdpa)
    assert rec["goals"]["precision matrix ddp_bf16: every command"] is True


def test_device_check_needs_an_output_folder(tmp_path):
    env = {k: v for k, v in script_env(PYTHON=sys.executable).items() if k != "OUT"}
    p = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh")], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "output folder" in p.stderr
