"""Sliced inference: the slice grid, coordinates back to the original, merging across slices, batching."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from yolo12l.errors import ConfigError
from yolo12l.inference.slicing import predict_sliced, slice_grid
from yolo12l.models import build_model


def test_grid_covers_the_image_without_padding():
    g = slice_grid(1000, 700, 320, 0.2)  # step 256
    assert (g[:, 2] - g[:, 0] == 320).all() and (g[:, 3] - g[:, 1] == 320).all()
    assert sorted(set(g[:, 0].tolist())) == [0, 256, 380]  # the last one shifted inside (700 - 320)
    assert sorted(set(g[:, 1].tolist())) == [0, 256, 512, 680]
    assert len(g) == 12 and g[:, 2].max() == 700 and g[:, 3].max() == 1000
    # every pixel is covered
    cover = np.zeros((1000, 700), bool)
    for x1, y1, x2, y2 in g:
        cover[y1:y2, x1:x2] = True
    assert cover.all()
    # smaller than a slice: one window of the whole side; exactly one slice: one window
    assert slice_grid(200, 900, 320, 0.2).tolist() == [[0, 0, 320, 200], [256, 0, 576, 200], [512, 0, 832, 200],
                                                       [580, 0, 900, 200]]
    assert slice_grid(320, 320, 320, 0.5).tolist() == [[0, 0, 320, 320]]
    assert slice_grid(100, 50, 320, 0.2).tolist() == [[0, 0, 50, 100]]


class WhiteBoxDetector(torch.nn.Module):
    """A stand-in network: one detection (class 1, score 0.9) on the bounding box of the white pixels of each
    input, the background class-0 anchors at score 0; output (B, 4 + 2, A) like the fused network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        out = torch.zeros(b, 6, 4, dtype=x.dtype)
        for i in range(b):
            ys, xs = torch.nonzero((x[i] > 0.9).all(0), as_tuple=True)
            if len(xs):
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                out[i, :4, 0] = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)).to(x.dtype)
                out[i, 5, 0] = 0.9
        return out


def _image(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    img = np.full((h, w, 3), 60, np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    return img


@pytest.mark.parametrize("merge", ["nmm", "nms"])
def test_objects_come_back_in_original_pixels_once(merge):
    # the 1000x700 image's object straddles slices [256, 576] and [0, 320] in x; the second image is smaller than a
    # slice and not square
    images = [_image(1000, 700, (290, 600, 340, 630)), _image(150, 260, (10, 20, 40, 50))]
    calls = []

    class Counting(WhiteBoxDetector):
        def forward(self, x):
            calls.append(x.shape)
            return super().forward(x)

    dets = predict_sliced(Counting(), images, imgsz=640, slice_size=320, overlap=0.2, merge=merge, batch_size=5)
    assert [c[0] for c in calls] == [5, 5, 3] and all(c[1:] == (3, 640, 640) for c in calls)  # 12 + 1 slices
    # bilinear resizing softens the edges: the white core is found within a pixel of the truth
    assert dets[1].shape == (1, 6) and dets[1][0, 4:].tolist() == [pytest.approx(0.9), 1]
    torch.testing.assert_close(dets[1][0, :4], torch.tensor([10.0, 20, 40, 50]), atol=1.0, rtol=0)
    assert dets[0].shape == (1, 6)
    if merge == "nmm":  # the union of the part seen by one slice and the whole seen by the other
        torch.testing.assert_close(dets[0][0, :4], torch.tensor([290.0, 600, 340, 630]), atol=1.0, rtol=0)
    else:  # NMS keeps one of the views (equal scores: the first slice's, which sees the left part or all of it)
        assert dets[0][0, 0].item() == pytest.approx(290, abs=1.0)


def test_full_image_pass_and_batch_size_do_not_change_results():
    torch.manual_seed(0)
    net = build_model("yolo12n.yaml", nc=3).eval().fuse()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (300, 420, 3), dtype=np.uint8), rng.integers(0, 255, (200, 200, 3), np.uint8)]
    a = predict_sliced(net, images, imgsz=128, slice_size=160, overlap=0.25, conf=0.0, batch_size=1)
    b = predict_sliced(net, images, imgsz=128, slice_size=160, overlap=0.25, conf=0.0, batch_size=7)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-3, rtol=1e-4)
        assert x.shape[0] > 0 and x.dtype == torch.float32
        assert (x[:, [0, 2]] <= images[0].shape[1] + 1e-3).all()
    seen = []
    full = predict_sliced(net, images, imgsz=128, slice_size=160, overlap=0.25, conf=0.0, full_image=True,
                          progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (18, 18)  # 4 x 3 + 2 x 2 slices and 2 full images
    assert any(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(full, a))  # the full pass was merged in


@pytest.mark.parametrize("kwargs,match", [
    ({"slice_size": 0}, "slice size"), ({"slice_size": 320.5}, "slice size"), ({"overlap": 1.0}, "overlap"),
    ({"merge": "wbf"}, "merge"), ({"match_metric": "giou"}, "metric"), ({"match_thres": -0.1}, "threshold"),
    ({"batch_size": 0}, "batch size"), ({"imgsz": 100}, "imgsz"),
])
def test_bad_options_are_user_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        predict_sliced(WhiteBoxDetector(), [_image(64, 64, (0, 0, 8, 8))], **kwargs)


def test_workers_compute_each_batch_on_one_thread_and_give_the_one_thread_detections():
    torch.manual_seed(0)
    net = build_model("yolo12n.yaml", nc=3).eval().fuse()
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (300, 420, 3), dtype=np.uint8), rng.integers(0, 255, (200, 200, 3), np.uint8)]
    kw = dict(imgsz=128, slice_size=160, overlap=0.25, conf=0.0, batch_size=4)
    one = predict_sliced(net, images, **kw)  # the tests run on one torch thread
    seen = []

    class Recording(torch.nn.Module):
        def forward(self, x):
            seen.append((threading.current_thread().name, torch.get_num_threads(), x.shape[0]))
            return net(x)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = predict_sliced(Recording(), images, workers=2, **kw)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two):  # smaller batches: equal up to float rounding (oneDNN's blocking may differ)
        assert a.shape[0] > 0
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-5)
    # 12 + 4 slices, batch 4 shared by 2 workers: 8 batches of 2, each on one torch thread, in the pool's threads
    assert sorted(n for _, _, n in seen) == [2] * 8 and {t for _, t, _ in seen} == {1}
    assert {name.split("_")[0] for name, _, _ in seen} == {"slices"}


def test_a_failing_worker_raises_and_restores_the_threads():
    class Broken(WhiteBoxDetector):
        def forward(self, x):
            raise RuntimeError("broken network")

    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="broken network"):
        predict_sliced(Broken(), [_image(700, 700, (0, 0, 8, 8))], slice_size=320, workers=2)
    assert torch.get_num_threads() == threads
    with pytest.raises(ConfigError, match="workers"):
        predict_sliced(Broken(), [_image(64, 64, (0, 0, 8, 8))], workers=0)
