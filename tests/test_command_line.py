"""The ``yolo12l`` command line: every command listed, user mistakes as one line (exit 2), bugs keep tracebacks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightning  # noqa: F401  (imported at collection: its log handler must not bind a test's captured stderr)
import pytest

import yolo12l.cli as cli
from yolo12l.cli import COMMANDS, find_user_error, main, one_line
from yolo12l.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--data.init_args.num_train", "4",
              "--data.init_args.num_val", "2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    """One synthetic-data cache for the module (generating the shapes set is the slow part of a start)."""
    return str(tmp_path_factory.mktemp("synthetic-cache"))


@pytest.fixture(autouse=True)
def _clean_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["yolo12l"])


def error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"yolo12l {command}: error: "), err
    return last


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("fit", "validate", "test", "predict", "export", "check-data", "info"):
        assert f"\n  {name} " in out, name
    assert set(COMMANDS) >= {"fit", "validate", "test", "predict", "export", "check-data", "info"}
    assert main([]) == 2 and "commands:" in capsys.readouterr().err


def test_unknown_command(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, expect", [
    (["--model.model", "nosuch.yaml"], "model YAML 'nosuch.yaml' not found"),
    (["--config", "missing-config.yaml"], "missing-config.yaml"),
    (["--trainer.max_epochs", "abc"], "trainer.max_epochs"),
    (["--data.init_args.imgsz", "100"], "--data.init_args.imgsz 100: must be a positive multiple of 32"),
    (["--data.init_args.batch_size", "0"], "--data.init_args.batch_size 0: must be an integer >= 1"),
    (["--no-such-option", "1"], "--no-such-option"),
    (["--model.optim.optimizer", "Adamm"], "--model.optim.optimizer 'Adamm': must be one of SGD, AdamW, Adam, auto"),
    (["--model.optim.schedule", "step"], "--model.optim.schedule 'step': must be one of linear, cosine"),
])
def test_fit_user_mistakes_are_one_line(capsys, tmp_path, cache, extra, expect):
    args = ["fit", *QUICKSTART, "--trainer.default_root_dir", str(tmp_path), "--data.init_args.cache_dir", cache,
            *extra]
    assert main(args) == 2
    assert expect in error_line(capsys, "fit")


def test_missing_dataset_yaml_and_unknown_block(capsys, tmp_path, cache):
    yolo = ["--config", str(REPO / "configs" / "yolo-format.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    assert main(["validate", *yolo, "--data.init_args.data_yaml", str(tmp_path / "gone.yaml")]) == 2
    assert f"{tmp_path / 'gone.yaml'}: dataset YAML not found" in error_line(capsys, "validate")
    model = tmp_path / "mine.yaml"
    model.write_text("nc: 80\nbackbone:\n  - [-1, 1, NoSuchBlock, [16]]\nhead:\n  - [-1, 1, Detect, [nc]]\n")
    assert main(["fit", *QUICKSTART, "--trainer.default_root_dir", str(tmp_path), "--data.init_args.cache_dir", cache,
                 "--model.model", str(model)]) == 2
    assert "unknown block 'NoSuchBlock'" in error_line(capsys, "fit")


def test_other_commands_report_user_mistakes(capsys, tmp_path):
    assert main(["export", "--weights", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in error_line(capsys, "export")
    assert main(["predict", "--weights", str(tmp_path / "none.pt"), "--source", str(tmp_path)]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, cache):
    with pytest.raises(Exception, match="nosuch.yaml"):
        main(["fit", *QUICKSTART, "--trainer.default_root_dir", str(tmp_path), "--data.init_args.cache_dir", cache,
              "--model.model", "nosuch.yaml", "--debug"])


def test_bugs_keep_their_traceback(monkeypatch):
    def broken(argv):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(cli, "_lightning", broken)
    with pytest.raises(RuntimeError, match="a bug of ours"):
        main(["fit"])


def test_user_errors_are_found_through_exception_chains():
    try:
        try:
            raise ConfigError("imgsz must be a multiple of 32")
        except ConfigError as inner:
            raise ValueError("Does not validate against any of the Union subtypes") from inner
    except ValueError as outer:
        assert isinstance(find_user_error(outer), UserError)
    assert find_user_error(ValueError("plain")) is None
    assert one_line(FileNotFoundError(2, "No such file or directory", "/x/y.yaml")) == \
        "/x/y.yaml: No such file or directory"


def test_console_run_prints_no_unactionable_warnings(tmp_path):
    """A real ``yolo12l`` process: no LightningCLI args warning, one error line, exit status 2."""
    proc = subprocess.run([sys.executable, "-m", "yolo12l.cli", "validate", *QUICKSTART, "--trainer.default_root_dir",
                           str(tmp_path), "--data.init_args.cache_dir", str(tmp_path / "c"), "--data.init_args.imgsz",
                           "65"], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2, proc.stderr
    assert "Warning" not in proc.stderr and "args parameter" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "yolo12l validate: error: --data.init_args.imgsz 65: must be a positive multiple of 32"
