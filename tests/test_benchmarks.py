"""The benchmark runner: ``python -m benchmarks --list`` lists every benchmark and check, each imports and answers
``--help``, benchmarks needing ultralytics re-execute under ``$YOLO12L_UL_PYTHON``, result files follow the rule
``<bench>-<condition>.json``. No benchmark is run here (they are slow by design)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import REPO, RESULT_NAME, RESULTS, result_path, write_json
from benchmarks.registry import BENCHMARKS, run

# modules of the package that are not benchmarks themselves
HELPERS = {"__init__", "__main__", "common", "registry", "timing", "throughput", "checks.__init__",
           "checks.pipeline_stats"}


def _runner(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120)


def test_list_has_one_line_per_benchmark():
    p = _runner("--list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(BENCHMARKS)
    kinds = {line.split()[0]: line.split()[1] for line in lines}
    assert kinds["heldout_pycocotools"] == "check" and kinds["bench_nms"] == "bench"
    assert "[required ultralytics]" in next(line for line in lines if line.startswith("ultralytics_val_compare"))


def test_every_module_is_listed_or_a_helper():
    files = {".".join(f.relative_to(REPO / "benchmarks").with_suffix("").parts)
             for f in (REPO / "benchmarks").rglob("*.py")}
    listed = {e.module.removeprefix("benchmarks.") for e in BENCHMARKS.values()}
    assert files - HELPERS == listed
    checks = {e.module.rsplit(".", 1)[1] for e in BENCHMARKS.values() if e.kind == "check"}
    assert {"heldout_pycocotools", "paper_parity_sensitivity", "ultralytics_val_compare", "rect_vs_square",
            "precision_detections", "compare_ultralytics"} <= checks


def test_benchmark_sources_patch_no_path():
    for f in (REPO / "benchmarks").rglob("*.py"):
        text = f.read_text()
        assert "sys.path.insert" not in text and '"/work/' not in text, f


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_answers_help(name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # run() sets the benchmark's argv
    with pytest.raises(SystemExit) as exit_info:
        run(name, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m benchmarks {name}"), out[:200]


def test_runner_dispatches_and_refuses_unknown_names():
    p = _runner("bench_quickstart", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: python -m benchmarks bench_quickstart"), p.stderr
    p = _runner("no_such_bench")
    assert p.returncode == 2
    assert p.stderr.strip() == ("python -m benchmarks: error: unknown benchmark 'no_such_bench'; "
                                "`python -m benchmarks --list` shows them")


def test_required_ultralytics_without_its_venv_is_a_usage_error(tmp_path):
    missing = tmp_path / "nope" / "python"
    p = _runner("ultralytics_val_compare", env={"YOLO12L_UL_PYTHON": str(missing)})
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == (
        f"python -m benchmarks: error: ultralytics_val_compare needs ultralytics: {missing} does not exist "
        "(make it with `bash scripts/setup_ultralytics.sh` or set YOLO12L_UL_PYTHON)")


def test_ultralytics_benchmarks_reexecute_under_the_venv_variable(tmp_path):
    """A stand-in interpreter records how the runner re-executes a benchmark that needs ultralytics."""
    record = tmp_path / "record.json"
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"json.dump({{'argv': sys.argv[1:], 'PYTHONPATH': os.environ['PYTHONPATH'], "
                    f"'YOLO_OFFLINE': os.environ.get('YOLO_OFFLINE')}}, open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    p = _runner("step_breakdown", "--rounds", "1", env={"YOLO12L_UL_PYTHON": str(fake)})
    assert p.returncode == 0, p.stderr
    got = json.loads(record.read_text())
    assert got["argv"] == ["-m", "benchmarks", "step_breakdown", "--rounds", "1"]
    assert got["PYTHONPATH"].split(os.pathsep)[0] == str(REPO) and got["YOLO_OFFLINE"] == "1"
    assert f"re-running under {fake}" in p.stderr


def test_result_files_follow_the_naming_rule():
    files = sorted(RESULTS.glob("*"))
    assert files, RESULTS
    for f in files:
        m = RESULT_NAME.match(f.name)
        assert m, f"{f.name}: not <bench>-<condition>.json"
        assert m["bench"] in BENCHMARKS, f"{f.name}: {m['bench']} is no benchmark of `python -m benchmarks --list`"


def test_result_path_and_portable_json(tmp_path, monkeypatch):
    assert result_path("bench_nms") == RESULTS / "bench_nms-default.json"
    assert result_path("bench_train", "large").name == "bench_train-large.json"
    with pytest.raises(ValueError, match="<bench>-<condition>"):
        result_path("bench_train", "Large-2")
    monkeypatch.setenv("YOLO12L_SHARED", str(tmp_path / "shared"))
    out = write_json({"data": str(tmp_path / "shared" / "datasets" / "x.yaml"), "cmd": [f"{REPO}/train.py", 1]},
                     tmp_path / "r.json")
    assert json.loads(Path(out).read_text()) == {"data": "$YOLO12L_SHARED/datasets/x.yaml", "cmd": ["./train.py", 1]}


def test_the_package_never_imports_the_benchmarks():
    offenders = [f for f in (REPO / "yolo12l").rglob("*.py")
                 if any(line.lstrip().startswith(("import benchmarks", "from benchmarks"))
                        for line in f.read_text().splitlines())]
    assert offenders == []
