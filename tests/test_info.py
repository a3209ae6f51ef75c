"""``yolo12l info`` and the FLOPs counter: within 3% of Ultralytics' figures, shown in Lightning's model summary."""
from __future__ import annotations

import json

import pytest
from lightning.pytorch.utilities.model_summary import ModelSummary

from yolo12l.cli import main as yolo12l_main
from yolo12l.info import main
from yolo12l.models import build_model
from yolo12l.models.flops import count_flops, to_meta
from yolo12l.training import YOLODetector


def test_gflops_within_3_percent_of_ultralytics_for_all_scales(reference_dir):
    stats = json.loads((reference_dir / "model_stats.json").read_text())["scales"]
    for scale, ref in stats.items():
        flops = count_flops(to_meta(build_model(f"yolo12{scale}.yaml")), 640)
        assert flops.gflops == pytest.approx(ref["gflops_640"], rel=0.03), scale
        assert flops.total == flops.by_group["convolution"] + flops.by_group["matmul"]  # nothing else counted
        assert flops.by_group["matmul"] > 0 and sum(flops.by_layer.values()) == flops.total
    # the paper's 6.5 GFLOPs for YOLO12-N is the convolutions alone
    n = count_flops(to_meta(build_model("yolo12n.yaml")), 640)
    assert n.by_group["convolution"] / 1e9 == pytest.approx(6.5, abs=0.05)


def test_meta_count_equals_real_forward():
    net = build_model("yolo12n.yaml", nc=3)
    real = count_flops(net, (96, 160))
    assert real.total == count_flops(to_meta(build_model("yolo12n.yaml", nc=3)), (96, 160)).total
    assert net.training and next(net.parameters()).device.type == "cpu"  # mode and device untouched


def test_info_command(capsys):
    assert main(["--model", "yolo12s.yaml", "--imgsz", "640"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 + 22 + 1 and "A2C2f" in out[7] and "Detect" in out[-2]
    assert "9,284,096 parameters" in out[-1] and "23.34 GFLOPs at 640x640" in out[-1]
    assert "convolutions 21.38 + attention matmuls 1.97" in out[-1]
    assert main(["--model", "yolo12n.yaml", "--imgsz", "384", "640", "--quiet"]) == 0
    assert "at 384x640" in capsys.readouterr().out
    # user mistakes: one line through the console entry point (yolo12l.cli.run_command), exit 2
    assert yolo12l_main(["info", "--model", "nope.yaml"]) == 2 and "not found" in capsys.readouterr().err
    assert yolo12l_main(["info", "--imgsz", "100"]) == 2 and "multiples of 32" in capsys.readouterr().err


def test_lightning_model_summary_shows_flops():
    model = YOLODetector(num_classes=3, summary_imgsz=64)
    summary = ModelSummary(model, max_depth=1)
    assert summary.total_flops == count_flops(model.net, 64).total > 0
    assert "Total Flops" in str(summary)
    assert YOLODetector(num_classes=3, summary_imgsz=0).example_input_array is None
