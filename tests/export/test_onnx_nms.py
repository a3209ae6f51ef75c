"""NMS in the exported graph (yolo12l.export.nms): same detections as yolo12l.ops.postprocess."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolo12l.export import EndToEndDetector, NonMaxSuppression, export_onnx
from yolo12l.ops import postprocess

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# direct torch.onnx.export calls: the exporter's own deprecation notices are expected (see yolo12l.export.onnx)
pytestmark = [pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
              pytest.mark.filterwarnings("ignore:The feature will be removed")]

CONF, IOU, MAX_DET = 0.25, 0.7, 40


def assert_same_detections(num_dets, boxes, scores, classes, ref: list[torch.Tensor], max_det: int,
                           box_atol: float = 0.0, score_atol: float = 0.0) -> None:
    """Fixed-shape outputs (numpy) equal postprocess' per-image (N, 6) rows, padding included."""
    assert num_dets.tolist() == [len(r) for r in ref]
    for i, r in enumerate(ref):
        n = len(r)
        np.testing.assert_allclose(boxes[i, :n], r[:, :4].numpy(), rtol=0, atol=box_atol)
        np.testing.assert_allclose(scores[i, :n], r[:, 4].numpy(), rtol=0, atol=score_atol)
        np.testing.assert_array_equal(classes[i, :n], r[:, 5].numpy().astype(np.int64))
        assert (boxes[i, n:] == 0).all() and (scores[i, n:] == 0).all() and (classes[i, n:] == -1).all()
        assert boxes.shape[1] == max_det


class _NMSOnly(nn.Module):
    def __init__(self, max_per_class: int, iou: float, conf: float):
        super().__init__()
        self.args = (max_per_class, iou, conf)

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return NonMaxSuppression.apply(boxes, scores, *self.args)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_function_equals_onnxruntime_kernel(tmp_path):
    """Ties (lower index first), score == conf (dropped), IoU == iou (kept), per-class cap, batches and classes."""
    boxes = torch.tensor([[[0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10], [0, 0, 10, 5], [50, 50, 60, 60],
                           [51, 50, 61, 60], [80, 80, 90, 90]],
                          [[0, 0, 10, 10], [0, 0, 10, 10], [30, 30, 40, 40], [31, 31, 41, 41], [60, 0, 70, 10],
                           [0, 60, 10, 70], [90, 90, 99, 99]]], dtype=torch.float32)
    scores = torch.tensor([[[0.9, 0.9, 0.9, 0.8, 0.25, 0.6, 0.7], [0.1, 0.3, 0.5, 0.5, 0.5, 0.5, 0.2]],
                           [[0.4, 0.4, 0.8, 0.7, 0.6, 0.5, 0.3], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.26]]])
    module = _NMSOnly(max_per_class=4, iou=0.5, conf=0.25)
    expected = module(boxes, scores)
    path = tmp_path / "nms.onnx"
    torch.onnx.export(module, (boxes, scores), str(path), dynamo=False, opset_version=17,
                      input_names=["boxes", "scores"], output_names=["selected"])
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"boxes": boxes.numpy(), "scores": scores.numpy()})[0]
    np.testing.assert_array_equal(got, expected.numpy())
    # image 0, class 0: ties 0/1/2 keep 0 (1, 2 overlap it); box 3 has IoU 0.5 with box 0 (kept); box 4 == conf
    assert expected[:4].tolist() == [[0, 0, 0], [0, 0, 3], [0, 0, 6], [0, 0, 5]]
    assert (expected[:, 0] == 1).sum() == 8  # image 1: capped at 4 per class


def test_end_to_end_module_equals_postprocess(busy_net, smooth_images):
    x = smooth_images(3, 128, 128, seed=1)
    with torch.no_grad():
        y = busy_net(x)
        for max_det in (MAX_DET, 300):
            out = EndToEndDetector(busy_net, CONF, IOU, max_det)(x)
            ref = postprocess(y, CONF, IOU, max_det)
            assert_same_detections(*(t.numpy() for t in out), ref, max_det)
    assert max(len(r) for r in ref) > MAX_DET  # the cap was exercised with MAX_DET


@pytest.fixture(scope="module")
def busy_exports(busy_net, tmp_path_factory):
    d = tmp_path_factory.mktemp("nms")
    return (export_onnx(busy_net, d / "raw.onnx", imgsz=128),
            export_onnx(busy_net, d / "nms.onnx", imgsz=128, nms=True, conf=CONF, iou=IOU, max_det=MAX_DET))


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_nms_equals_postprocess(busy_net, busy_exports, run_onnx, smooth_images, batch):
    """The NMS graph keeps exactly what postprocess keeps from the same (onnxruntime) decoded output, and it agrees
    with postprocess on the torch output within float tolerance."""
    raw, with_nms = busy_exports
    x = smooth_images(batch, 128, 128, seed=10 + batch)
    out = run_onnx(with_nms.path, x)
    assert [o.dtype for o in out] == [np.int64, np.float32, np.float32, np.int64]
    y_ort = torch.from_numpy(run_onnx(raw.path, x)[0])
    assert_same_detections(*out, postprocess(y_ort, CONF, IOU, MAX_DET), MAX_DET)
    assert out[0].min() > 0
    assert [t.shape for t in with_nms.outputs] == [("batch",), ("batch", MAX_DET, 4), ("batch", MAX_DET),
                                                   ("batch", MAX_DET)]
    assert with_nms.metadata["nms"] == "true" and with_nms.metadata["max_det"] == str(MAX_DET)


def test_onnx_nms_without_detections(random_net, tmp_path, run_onnx, smooth_images):
    s = export_onnx(random_net, tmp_path / "none.onnx", imgsz=64, nms=True, conf=1.0, max_det=5)
    num_dets, boxes, scores, classes = run_onnx(s.path, smooth_images(2, 64, 64, seed=0))
    assert num_dets.tolist() == [0, 0]
    assert boxes.shape == (2, 5, 4) and (boxes == 0).all() and (scores == 0).all() and (classes == -1).all()


@pytest.mark.parametrize("kwargs", [{"conf": 1.5}, {"iou": -0.1}, {"max_det": 0}])
def test_bad_arguments(random_net, kwargs):
    with pytest.raises(ValueError):
        EndToEndDetector(random_net, **kwargs)
