"""``yolo12l predict`` / ``info`` through the console entry point: argument checks (one line, exit 2, before the
weights are read), both forms in the help, numbered run folders, sub-folder names, videos and ``--classes``."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from yolo12l.cli import main

CKPT = "yolo12n_shapes_ultralytics.pt"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("argv, message", [
    (["--conf", "1.5"], "invalid --conf 1.5: must be in 0..1"),
    (["--iou", "2"], "invalid --iou 2.0: must be in 0..1"),
    (["--max-det", "-3"], "invalid --max-det -3: must be >= 1"),
    (["--batch", "0"], "invalid --batch 0: must be >= 1"),
    (["--classes", "-1"], "invalid --classes [-1]: class indices are >= 0"),
    (["--vid-stride", "0"], "invalid --vid-stride 0: must be >= 1"),
])
def test_predict_bad_values_before_loading(tmp_path, capsys, argv, message):
    junk = tmp_path / "junk.pt"  # reading it would fail: the value must be refused first
    junk.write_bytes(b"not a checkpoint")
    assert main(["predict", "--weights", str(junk), "--source", str(tmp_path), *argv]) == 2
    assert _error_line(capsys) == f"yolo12l predict: error: {message}"


def test_predict_bad_device_out_and_weights(tmp_path, capsys, reference_dir):
    weights = str(reference_dir / CKPT)
    source = str(reference_dir / "shapes_images")
    if not torch.cuda.is_available():
        assert main(["predict", "--weights", weights, "--source", source, "--device", "cuda"]) == 2
        assert "invalid --device cuda: CUDA is not available on this machine" in _error_line(capsys)
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    assert main(["predict", "--weights", weights, "--source", source, "--out", str(existing)]) == 2
    assert f"invalid --out {existing}: an existing file, not a folder" in _error_line(capsys)
    config = tmp_path / "x.json"
    config.write_text("{}")
    assert main(["predict", "--weights", str(config), "--source", source]) == 2
    assert "a .json file is not a weights file" in _error_line(capsys)
    assert main(["predict", "--weights", str(tmp_path / "none.pt"), "--source", source]) == 2
    assert "none.pt: no such file" in _error_line(capsys)
    assert main(["predict", "--weights", weights, "--source", str(tmp_path / "nothing")]) == 2
    assert "no images or videos found" in _error_line(capsys)
    assert main(["predict", "--weights", weights, "--source", source, "--classes", "7"]) == 2
    assert "invalid --classes [7]: the model has 3 classes (0..2)" in _error_line(capsys)
    assert not list(tmp_path.glob("runs*"))


def test_predict_help_shows_both_forms(capsys):
    assert main(["predict", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--weights" in out and "--source" in out and "--config" in out and "--ckpt_path" in out
    assert len(out.splitlines()) < 80  # not LightningCLI's ~640 lines
    assert main(["predict"]) == 2
    err = capsys.readouterr().err
    assert "--weights W --source S" in err and "--config" in err
    assert err.strip().splitlines()[-1].startswith("yolo12l predict: error: give --weights and --source")


def test_runs_are_numbered_and_subfolder_names_consistent(reference_dir, tmp_path, monkeypatch, capsys):
    src = tmp_path / "src"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        shutil.copy(reference_dir / "shapes_images" / "00001.jpg", src / sub / "00000.jpg")
    shutil.copy(reference_dir / "shapes_images" / "00002.jpg", src / "b" / "other.jpg")
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        assert main(["predict", "--weights", str(reference_dir / CKPT), "--source", str(src), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["predict", "predict2", "predict3"]
    run = tmp_path / "runs" / "predict2"
    results = json.loads((run / "predictions.json").read_text())
    names = {r["file_name"] for r in results}
    assert names == {"a/00000.jpg", "b/00000.jpg", "other.jpg"}
    assert {r["image_id"] for r in results} == {0, 1, 2}  # stems not distinct: positions in the sorted list
    assert all((run / n).is_file() for n in names)  # drawings named as in the JSON


def _write_video(path, frames: list[np.ndarray], fps: float = 5.0) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def test_video_frames_and_classes_filter(reference_dir, tmp_path, capsys):
    frames = [cv2.cvtColor(cv2.imread(str(reference_dir / "shapes_images" / f"0000{i}.jpg")), cv2.COLOR_BGR2RGB)
              for i in (1, 1, 1)]
    frames = [cv2.resize(f, (256, 192)) for f in frames]
    src = tmp_path / "src"
    src.mkdir()
    _write_video(src / "clip.mp4", frames)
    shutil.copy(reference_dir / "shapes_images" / "00001.jpg", src / "still.jpg")
    out = tmp_path / "run"
    assert main(["predict", "--weights", str(reference_dir / CKPT), "--source", str(src), "--out", str(out),
                 "--conf", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "video 1/1 (frame 3/3)" in printed and "1 images, 3 video frames" in printed
    results = json.loads((out / "predictions.json").read_text())
    video = [r for r in results if r["file_name"] == "clip.mp4"]
    assert sorted({r["frame"] for r in video}) == [0, 1, 2] and {r["image_id"] for r in video} == {1, 2, 3}
    assert (out / "still.jpg").is_file()
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 256
    cap.release()
    kept = sorted({r["category_id"] for r in results})
    assert len(kept) > 1
    out2 = tmp_path / "run2"
    assert main(["predict", "--weights", str(reference_dir / CKPT), "--source", str(src / "clip.mp4"),
                 "--out", str(out2), "--conf", "0.1", "--classes", str(kept[0]), "--no-images"]) == 0
    only = json.loads((out2 / "predictions.json").read_text())
    assert only and {r["category_id"] for r in only} == {kept[0]}
    drop_id = lambda rs: [{k: v for k, v in r.items() if k != "image_id"} for r in rs]  # noqa: E731
    assert drop_id(only) == drop_id([r for r in video if r["category_id"] == kept[0]])


def test_info_reads_checkpoints_and_checks_values(reference_dir, paper_reference_dir, capsys):
    assert main(["info", "--model", str(reference_dir / CKPT), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(ultralytics yolo12 checkpoint) (scale n, nc 3)" in out and "at 256x256" in out and "trained at 256" in out
    assert main(["info", "--model", str(paper_reference_dir / "yolov12n_turbo_parity.pt"), "--quiet"]) == 0
    assert "yolov12-turbo checkpoint" in capsys.readouterr().out
    assert main(["info", "--nc", "0"]) == 2
    assert _error_line(capsys) == "yolo12l info: error: invalid --nc 0: must be >= 1"
    assert main(["info", "--model", str(reference_dir / CKPT), "--nc", "3"]) == 2
    assert "a weights file records its own scale and classes" in _error_line(capsys)
