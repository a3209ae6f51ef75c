"""``yolo12l benchmark``: the statistics, the recorded protocol, the console command and its mistakes."""
from __future__ import annotations

import json

import pytest
import torch

from yolo12l.cli import main
from yolo12l.models import build_model
from yolo12l.study.latency import benchmark, summarize


def test_summarize_statistics():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0, 100.0])
    assert s["median_ms"] == 3.5 and s["p95_ms"] == 100.0 and s["min_ms"] == 1.0 and s["runs"] == 6
    assert s["mean_ms"] == pytest.approx(115 / 6)
    assert s["std_ms"] == pytest.approx(torch.tensor([5.0, 1, 3, 2, 4, 100]).std().item())
    assert summarize(list(map(float, range(1, 21))))["p95_ms"] == 19.0  # nearest rank: ceil(0.95 * 20) = 19th


def test_benchmark_records_its_protocol(one_thread):
    report = benchmark(build_model("yolo12n.yaml", nc=3), imgsz=64, batches=(1, 2), warmup=1, runs=3)
    p = report["protocol"]
    assert p["fused"] and p["imgsz"] == 64 and p["warmup"] == 1 and p["runs"] == 3 and p["threads"] == 1
    assert p["torch"] == torch.__version__ and p["device"].startswith("cpu") and p["dtype"] == "float32"
    assert not p["cuda_graphs"]
    assert set(report["results"]) == {"batch1", "batch2"}
    for row in report["results"].values():
        for part in ("forward", "end_to_end"):
            s = row[part]
            assert s["runs"] == 3 and 0 < s["min_ms"] <= s["median_ms"] <= s["p95_ms"]


def test_benchmark_command(tmp_path, capsys, one_thread):
    out = tmp_path / "lat.json"
    assert main(["benchmark", "--model", "yolo12n.yaml", "--nc", "3", "--imgsz", "64", "--runs", "2",
                 "--warmup", "1", "--half", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "forward" in text and "end_to_end" in text and "torch " + torch.__version__ in text
    assert "--half / --cuda-graphs apply on CUDA only: ignored" in text
    report = json.loads(out.read_text())
    assert report["model"] == "yolo12n.yaml" and report["results"]["batch1"]["forward"]["runs"] == 2


@pytest.mark.parametrize("args, message", [(["--imgsz", "100"], "--imgsz must be a positive multiple of 32"),
                                           (["--runs", "0"], "need --runs >= 1"),
                                           (["--model", "missing.ckpt"], "missing.ckpt")])
def test_benchmark_mistakes(capsys, args, message):
    assert main(["benchmark", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("yolo12l benchmark: error:") and message in err[0], err
