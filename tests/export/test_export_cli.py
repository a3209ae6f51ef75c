"""``yolo12l export`` (yolo12l.export.cli.main) on a real Ultralytics checkpoint and on a yolo12l Lightning .ckpt."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from yolo12l.export import main, summarise_onnx
from yolo12l.interop import load_network
from yolo12l.models import build_model
from yolo12l.ops import postprocess

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CKPT = "yolo12n_shapes_ultralytics.pt"
IMAGE = "00005.jpg"  # 256 x 256: at imgsz 256 Ultralytics' letterbox leaves it as it is


def read_rgb(path) -> torch.Tensor:
    """(1, 3, H, W) float 0..1 RGB, decoded like Ultralytics (OpenCV)."""
    cv2 = pytest.importorskip("cv2")
    im = cv2.imread(str(path))[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def shapes_net(reference_dir):
    return load_network(reference_dir / CKPT)[0]


@pytest.fixture(scope="module")
def shapes_image(reference_dir) -> torch.Tensor:
    x = read_rgb(reference_dir / "shapes_images" / IMAGE)
    assert x.shape == (1, 3, 256, 256)
    return x


def test_export_ultralytics_checkpoint(reference_dir, shapes_net, shapes_image, tmp_path, capsys, run_onnx):
    out = tmp_path / "shapes.onnx"
    assert main(["--weights", str(reference_dir / CKPT), "--format", "onnx", "--imgsz", "256", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "images float32[batch, 3, 256, 256]" in printed and "output0 float32[batch, 7, 1344]" in printed
    assert "opset       17" in printed and "MiB" in printed
    meta = summarise_onnx(out).metadata
    assert json.loads(meta["names"]) == {"0": "circle", "1": "square", "2": "triangle"}
    assert json.loads(meta["imgsz"]) == [256, 256] and json.loads(meta["stride"]) == [8, 16, 32]

    x = torch.cat([shapes_image, shapes_image.flip(-1)])  # a second, different image
    (y,) = run_onnx(out, x)
    with torch.no_grad():
        ref = shapes_net(x).numpy()
    assert np.abs(y[:, :4] - ref[:, :4]).max() < 1e-3
    assert np.abs(y[:, 4:] - ref[:, 4:]).max() < 1e-4


def test_export_with_nms_gives_ultralytics_predictions(reference_dir, shapes_net, shapes_image, tmp_path, capsys,
                                                       run_onnx):
    out = tmp_path / "shapes_nms.onnx"
    assert main(["export", "--weights", str(reference_dir / CKPT), "--imgsz", "256", "--nms", "--out", str(out)]) == 0
    assert "boxes float32[batch, 300, 4]" in capsys.readouterr().out
    num_dets, boxes, scores, classes = run_onnx(out, shapes_image)
    n = int(num_dets[0])

    with torch.no_grad():
        ours = postprocess(shapes_net(shapes_image), conf=0.25, iou=0.7, max_det=300)[0]
    assert n == len(ours) > 0
    np.testing.assert_allclose(boxes[0, :n], ours[:, :4].numpy(), rtol=0, atol=1e-3)
    np.testing.assert_allclose(scores[0, :n], ours[:, 4].numpy(), rtol=0, atol=1e-4)
    np.testing.assert_array_equal(classes[0, :n], ours[:, 5].numpy())

    expected = json.loads((reference_dir / "yolo12n_shapes_predictions.json").read_text())
    assert (expected["imgsz"], expected["conf"], expected["iou"]) == (256, 0.25, 0.7)
    pred = expected["predictions"][IMAGE]
    assert n == len(pred["conf"])
    np.testing.assert_allclose(boxes[0, :n], np.array(pred["xyxy"]), rtol=0, atol=1e-3)
    np.testing.assert_allclose(scores[0, :n], np.array(pred["conf"]), rtol=0, atol=1e-4)
    np.testing.assert_array_equal(classes[0, :n], np.array(pred["cls"]))


def _lightning_checkpoint(path, nc: int = 3, num_classes: int | None = None) -> dict:
    torch.manual_seed(0)
    net = build_model("yolo12n.yaml", nc=nc)
    ckpt = {"epoch": 1, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": {"model": "yolo12n.yaml", "scale": None, "num_classes": num_classes or nc,
                                 "class_names": ["cat", "dog", "bird"][: num_classes or nc]}}
    ckpt["state_dict"]["criterion.proj"] = torch.arange(16.0)  # non-network entries are ignored
    torch.save(ckpt, path)
    return net.state_dict()


def test_export_lightning_checkpoint(tmp_path, capsys, run_onnx):
    weights = tmp_path / "last.ckpt"
    state = _lightning_checkpoint(weights)
    net = load_network(weights)[0]
    assert net.names == {0: "cat", 1: "dog", 2: "bird"} and not net.training
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())

    assert main(["--weights", str(weights), "--imgsz", "64", "--static", "--batch", "2"]) == 0  # default --out
    assert "images float32[2, 3, 64, 64]" in capsys.readouterr().out
    out = tmp_path / "last.onnx"
    assert json.loads(summarise_onnx(out).metadata["names"]) == {"0": "cat", "1": "dog", "2": "bird"}
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    (y,) = run_onnx(out, x)
    with torch.no_grad():
        assert np.abs(y - net(x).numpy()).max() < 1e-3


def test_errors_are_reported_not_raised(tmp_path, capsys):
    mismatched = tmp_path / "mismatch.ckpt"
    _lightning_checkpoint(mismatched, nc=3, num_classes=2)  # hyper-parameters say 2 classes, weights have 3
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 4)
    plain = tmp_path / "plain.pt"
    torch.save({"model.0.conv.weight": torch.zeros(1)}, plain)
    cases = [
        (["--weights", str(tmp_path / "missing.pt")], 2, "not found"),
        (["--weights", str(mismatched)], 2, "do not match"),
        (["--weights", str(garbage)], 2, "garbage.pt: neither a yolo12l .ckpt nor an Ultralytics"),
        (["--weights", str(plain)], 2, "plain.pt: unsupported checkpoint: no area-attention weights"),
        (["--weights", str(mismatched), "--imgsz", "1", "2", "3"], 2, "one or two sizes"),
        (["--weights", str(mismatched), "--format", "tflite"], 2, "invalid choice"),
        (["--imgsz", "64"], 2, "--weights"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err, argv
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("yolo12l export: error: "), err
    assert not list(tmp_path.glob("*.onnx"))


def test_bad_export_size_is_reported(tmp_path, capsys):
    weights = tmp_path / "w.ckpt"
    _lightning_checkpoint(weights)
    assert main(["--weights", str(weights), "--imgsz", "250"]) == 2
    assert "multiples of 32" in capsys.readouterr().err


def test_out_may_be_a_directory(tmp_path, capsys):
    from yolo12l.export.cli import output_path

    weights = tmp_path / "w.ckpt"
    _lightning_checkpoint(weights)
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["--weights", str(weights), "--imgsz", "64", "--out", str(folder)]) == 0
    assert (folder / "w.onnx").is_file()
    new = tmp_path / "new" / "deeper"
    assert output_path(weights, f"{new}/") == new / "w.onnx" and new.is_dir()  # a trailing '/' names a folder
    assert output_path(weights, str(tmp_path / "named.onnx")) == tmp_path / "named.onnx"
    assert output_path(weights, None) == tmp_path / "w.onnx"


@pytest.mark.parametrize("name", ["yolov12n_v1_parity.pt", "yolov12n_turbo_parity.pt"])
def test_export_paper_checkpoints(paper_reference_dir, name, tmp_path, capsys, run_onnx, smooth_images):
    """Every kind ``predict`` reads exports (the turbo file used to fail: its A2C2f rows were not renamed)."""
    out = tmp_path / "paper.onnx"
    assert main(["--weights", str(paper_reference_dir / name), "--imgsz", "64", "--out", str(out)]) == 0
    assert "images float32[batch, 3, 64, 64]" in capsys.readouterr().out
    net = load_network(paper_reference_dir / name)[0]
    x = smooth_images(1, 64, 64, 3)
    (y,) = run_onnx(out, x)
    with torch.no_grad():
        expected = net(x)
    torch.testing.assert_close(torch.from_numpy(y), expected, rtol=1e-3, atol=1e-3)


def test_export_defaults_to_the_training_size(reference_dir, tmp_path, capsys):
    out = tmp_path / "shapes.onnx"
    assert main(["--weights", str(reference_dir / CKPT), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "export size 256 (the checkpoint's training size)" in text and "float32[batch, 3, 256, 256]" in text
