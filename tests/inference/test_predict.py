"""Stand-alone prediction equals Ultralytics' ``predict`` on the shapes checkpoint; the CLI writes COCO results."""
from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch
from PIL import Image

from yolo12l.interop import read_ultralytics_checkpoint
from yolo12l.cli import main as yolo12l_main
from yolo12l.inference import coco_results, predict_images
from yolo12l.interop import load_network

CKPT = "yolo12n_shapes_ultralytics.pt"


def main(argv: list[str]) -> int:
    """``yolo12l predict …`` through the console entry point (user errors: one line, exit 2)."""
    return yolo12l_main(["predict", *argv])


@pytest.fixture(scope="module")
def reference(reference_dir):
    return json.loads((reference_dir / "yolo12n_shapes_predictions.json").read_text())


@pytest.fixture(scope="module")
def images(reference_dir):
    return sorted((reference_dir / "shapes_images").glob("*.jpg"))


@pytest.fixture(scope="module")
def loaded(reference_dir):
    return load_network(reference_dir / CKPT)


@pytest.fixture(scope="module")
def fused(loaded):
    """The network as the CLI runs it (BatchNorm folded, channels-last)."""
    return copy.deepcopy(loaded[0]).fuse()


@pytest.fixture(scope="module")
def preds(fused, images, reference):
    return predict_images(fused, images, reference["imgsz"], reference["conf"], reference["iou"])


def _match(ref: dict, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of reference boxes to ours (same class, closest corners)."""
    pairs, used = [], set()
    for i, (rb, rc) in enumerate(zip(ref["xyxy"], ref["cls"])):
        cands = [j for j in range(len(boxes)) if j not in used and int(classes[j]) == rc]
        assert cands, f"reference box {i} (class {rc}) has no counterpart"
        j = min(cands, key=lambda j: (boxes[j] - torch.tensor(rb)).abs().max().item())
        used.add(j)
        pairs.append((i, j))
    return pairs


def test_predictions_equal_ultralytics(preds, reference, images):
    assert [p["file_name"] for p in preds] == [f.name for f in images] == sorted(reference["predictions"])
    worst_box = worst_score = 0.0
    for p in preds:
        ref = reference["predictions"][p["file_name"]]
        assert list(p["orig_shape"]) == ref["orig_shape"]
        assert len(p["boxes"]) == len(ref["xyxy"]), p["file_name"]
        for i, j in _match(ref, p["boxes"], p["scores"], p["classes"]):
            worst_box = max(worst_box, (p["boxes"][j] - torch.tensor(ref["xyxy"][i])).abs().max().item())
            worst_score = max(worst_score, abs(p["scores"][j].item() - ref["conf"][i]))
    assert worst_box < 1.0 and worst_score < 1e-3  # measured: 5e-5 px, 1.3e-6
    assert sum(len(p["boxes"]) for p in preds) == sum(len(r["cls"]) for r in reference["predictions"].values())


def test_non_square_images_covered(preds):
    """The set has 256×320 and 320×384 images: padding and the per-axis un-mapping are exercised."""
    shapes = {tuple(p["orig_shape"]) for p in preds}
    assert {(256, 320), (320, 384)} <= shapes and any(s[0] != s[1] for s in shapes)


def test_sorted_by_score_and_thresholded(preds, reference):
    for p in preds:
        s = p["scores"]
        assert (s > reference["conf"]).all() and torch.equal(s, s.sort(descending=True).values)
        h, w = p["orig_shape"]
        assert (p["boxes"] >= 0).all() and (p["boxes"][:, [0, 2]] <= w).all() and (p["boxes"][:, [1, 3]] <= h).all()


# ---------------------------------------------------------------------------------------------------------- CLI
def test_cli_writes_coco_results_and_images(reference_dir, reference, preds, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["--weights", str(reference_dir / CKPT), "--source", str(reference_dir / "shapes_images"),
               "--imgsz", str(reference["imgsz"]), "--conf", str(reference["conf"]), "--iou", str(reference["iou"]),
               "--out", str(out)])
    assert rc == 0
    assert "6 images, 22 detections" in capsys.readouterr().out
    results = json.loads((out / "predictions.json").read_text())
    assert results == coco_results(preds)
    assert {r["image_id"] for r in results} == {0, 1, 2, 3, 4, 5}  # numeric stems 00000..00005
    first = [r for r in results if r["file_name"] == "00000.jpg"]
    ref = reference["predictions"]["00000.jpg"]
    assert [r["category_id"] for r in first] == ref["cls"]
    for r, (x1, y1, x2, y2) in zip(first, ref["xyxy"]):
        assert r["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-2)
    for f in sorted((reference_dir / "shapes_images").glob("*.jpg")):
        with Image.open(out / f.name) as drawn, Image.open(f) as src:
            assert drawn.size == src.size
    with Image.open(out / "00000.jpg") as drawn, Image.open(reference_dir / "shapes_images" / "00000.jpg") as src:
        assert drawn.convert("RGB").tobytes() != src.convert("RGB").tobytes()  # something was drawn


def test_cli_lightning_checkpoint_maps_category_ids(reference_dir, reference, preds, tmp_path):
    """A yolo12l Lightning checkpoint (``net.`` weights + hyper-parameters) with COCO-style category ids."""
    sd = read_ultralytics_checkpoint(reference_dir / CKPT).state_dict
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in sd.items()} | {"criterion.proj": torch.zeros(1)},
                "hyper_parameters": {"model": "yolo12n.yaml", "num_classes": 3,
                                     "class_names": ["circle", "square", "triangle"],
                                     "label_to_category_id": [11, 12, 13]}}, ckpt)
    net, info = load_network(ckpt)
    assert info["format"] == "lightning" and net.names == {0: "circle", 1: "square", 2: "triangle"}
    out = tmp_path / "run"
    assert main(["--weights", str(ckpt), "--source", str(reference_dir / "shapes_images" / "0000[01].jpg"),
                 "--imgsz", "256", "--out", str(out), "--no-images"]) == 0
    results = json.loads((out / "predictions.json").read_text())
    expected = [{**r, "category_id": r["category_id"] + 11} for r in coco_results(preds[:2])]
    assert results == expected
    assert not list(out.glob("*.jpg"))


def test_cli_bad_input(reference_dir, tmp_path, caplog):
    src = tmp_path / "imgs"
    src.mkdir()
    shutil.copy(reference_dir / "shapes_images" / "00001.jpg", src / "cat.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "run"
    assert main(["--weights", str(reference_dir / CKPT), "--source", str(src), "--imgsz", "256",
                 "--out", str(out)]) == 0
    assert "broken.jpg" in caplog.text and "1 of 2 inputs could not be read" in caplog.text
    results = json.loads((out / "predictions.json").read_text())
    assert results and {r["file_name"] for r in results} == {"cat.jpg"}
    assert {r["image_id"] for r in results} == {1}  # non-numeric stems: index in the sorted source list
    assert main(["--weights", str(reference_dir / CKPT), "--source", str(tmp_path / "nothing"),
                 "--out", str(out)]) == 2
    assert main(["--weights", str(tmp_path / "missing.pt"), "--source", str(src), "--out", str(out)]) == 2
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["--weights", str(tmp_path / "junk.pt"), "--source", str(src), "--out", str(out)]) == 2


# ------------------------------------------------------------------------------------- batching, timing, backends
def test_batched_with_workers_equals_batch_one(fused, images):
    one = predict_images(fused, images[:4], 256, 0.25, 0.7)
    batched = predict_images(fused, images[:4], 256, 0.25, 0.7, batch=3, workers=2)
    assert [p["file_name"] for p in batched] == [p["file_name"] for p in one]
    for a, b in zip(one, batched):
        assert torch.equal(a["classes"], b["classes"])
        torch.testing.assert_close(a["boxes"], b["boxes"], atol=1e-3, rtol=0)
        torch.testing.assert_close(a["scores"], b["scores"], atol=1e-5, rtol=0)
        assert set(b["ms"]) == {"preprocess", "inference", "postprocess"} and b["input_shape"][1:2] == (3,)


def test_cli_timing_lines_and_batch(reference_dir, tmp_path, capsys):
    out = tmp_path / "run"
    source = reference_dir / "shapes_images" / "0000[0-2].jpg"
    assert main(["--weights", str(reference_dir / CKPT), "--source", str(source), "--imgsz", "256", "--batch", "2",
                 "--out", str(out), "--no-images"]) == 0
    lines = capsys.readouterr().out.splitlines()
    image_lines = [line for line in lines if line.startswith("image ")]
    assert len(image_lines) == 3 and image_lines[0].startswith("image 1/3 ") and "00000.jpg: " in image_lines[0]
    assert all(line.endswith("ms") for line in image_lines)
    speed = [line for line in lines if line.startswith("Speed: ")]
    assert len(speed) == 1 and "ms preprocess" in speed[0] and "per image at shape (" in speed[0]
    assert main(["--weights", str(reference_dir / CKPT), "--source", str(reference_dir / "shapes_images"),
                 "--batch", "0", "--out", str(out)]) == 2


def test_onnxruntime_backend_matches_torch_and_caches(reference_dir, images, tmp_path, caplog):
    from yolo12l.export.ort_runtime import OnnxRuntimeModel, onnx_cache_path

    weights = tmp_path / CKPT
    shutil.copy(reference_dir / CKPT, weights)
    net = load_network(weights)[0]
    ort_model = OnnxRuntimeModel(weights, net, (256, 256))
    assert ort_model.exported and ort_model.path == onnx_cache_path(weights, (256, 256))
    assert ort_model.path.parent == tmp_path and ort_model.path.is_file()
    assert not OnnxRuntimeModel(weights, net, (256, 256)).exported  # reused
    fused = copy.deepcopy(net).fuse()
    ours = predict_images(fused, images[:3], 256, 0.25, 0.7, square=True)
    theirs = predict_images(ort_model, images[:3], 256, 0.25, 0.7, square=True)
    for a, b in zip(ours, theirs):
        assert torch.equal(a["classes"], b["classes"])
        torch.testing.assert_close(a["boxes"], b["boxes"], atol=1e-2, rtol=0)
        torch.testing.assert_close(a["scores"], b["scores"], atol=1e-4, rtol=0)
    x = torch.rand(2, 3, 256, 256)
    with torch.inference_mode():
        torch.testing.assert_close(ort_model(x), fused(x), atol=1e-3, rtol=1e-4)
    out = tmp_path / "run"
    caplog.clear()  # the first export above logged "exporting"
    assert main(["--weights", str(weights), "--source", str(images[0]), "--imgsz", "256", "--backend",
                 "onnxruntime", "--out", str(out), "--no-images"]) == 0
    assert "exporting" not in caplog.text  # the cached export was used
    assert len(json.loads((out / "predictions.json").read_text())) == len(theirs[0]["scores"])


def test_sliced_cli_runs_a_worker_per_torch_thread_with_the_one_thread_predictions(reference_dir, tmp_path, capsys):
    """``predict --slice`` on CPU computes batches of slices in one thread per torch thread (each on one torch
    thread): on 2 threads it writes the predictions of a 1-thread run (up to float rounding: its batches are half
    the size) and leaves 2 threads."""
    from yolo12l.inference.cli import build_parser, slice_workers

    args = build_parser().parse_args(["--weights", "w.pt", "--source", "s"])
    args.device = torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert slice_workers(args) == 2
        args.backend = "onnxruntime"
        assert slice_workers(args) == 1  # ONNX Runtime has threads of its own
        runs = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            out = tmp_path / f"threads{n}"
            assert main(["--weights", str(reference_dir / CKPT), "--source", str(reference_dir / "shapes_images" /
                         "0000[0-1].jpg"), "--imgsz", "128", "--slice", "128", "--conf", "0.05", "--out", str(out),
                         "--no-images", "--quiet"]) == 0
            assert torch.get_num_threads() == n
            runs[n] = json.loads((out / "predictions.json").read_text())
    finally:
        torch.set_num_threads(threads)
    assert len(runs[1]) == len(runs[2]) > 0
    for a, b in zip(runs[1], runs[2]):
        assert (a["image_id"], a["category_id"]) == (b["image_id"], b["category_id"])
        assert a["bbox"] == pytest.approx(b["bbox"], abs=1e-3) and a["score"] == pytest.approx(b["score"], abs=1e-5)
