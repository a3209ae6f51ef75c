"""YOLO augmentation: mosaic geometry, boxes that stay on their objects, HSV, flip, mixup."""
import albumentations as A
import numpy as np
import pytest

from datatest_utils import solid_image
from reference_augment import RandomHSV, YoloMosaic, bbox_params, build_train_color, build_train_geometry
from yolo12l.data.mosaic import mosaic_placements
from yolo12l.data.transforms import AugmentConfig, mixup

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]


def sample(k: int, h: int, w: int, rng):
    """Image with two solid rectangles whose colour encodes the label."""
    boxes, labels = [], []
    for j in range(2):
        bw, bh = rng.integers(w // 5, w // 2), rng.integers(h // 5, h // 2)
        x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
        if j and not (x >= boxes[0][2] or x + bw <= boxes[0][0] or y >= boxes[0][3] or y + bh <= boxes[0][1]):
            continue  # keep rectangles disjoint
        boxes.append([x, y, x + bw, y + bh])
        labels.append((2 * k + j) % len(COLOURS))
    img = solid_image(h, w, boxes, [COLOURS[i] for i in labels])
    return img, np.array(boxes, np.float32), np.array(labels)


def assert_boxes_on_their_objects(img, boxes, labels):
    """The centre of every box shows its label's colour (the rectangles are solid)."""
    for b, lab in zip(boxes, labels):
        cx, cy = int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)
        np.testing.assert_allclose(img[cy, cx], COLOURS[lab], atol=40)
        assert b[2] - b[0] >= 2 - 1e-4 and b[3] - b[1] >= 2 - 1e-4
        assert b.min() >= 0 and b[2] <= img.shape[1] and b[3] <= img.shape[0]


def test_placements_touch_the_centre():
    s = 100
    p = mosaic_placements(s, (100, 100), [(100, 100)] * 4)
    assert [q[:4] for q in p] == [(0, 0, 100, 100), (100, 0, 200, 100), (0, 100, 100, 200), (100, 100, 200, 200)]
    p = mosaic_placements(s, (60, 130), [(50, 80), (300, 40), (70, 70), (90, 200)])
    for (x1, y1, x2, y2, sx1, sy1, sx2, sy2), (h, w) in zip(p, [(50, 80), (300, 40), (70, 70), (90, 200)]):
        assert 0 <= x1 <= x2 <= 200 and 0 <= y1 <= y2 <= 200
        assert (x2 - x1, y2 - y1) == (sx2 - sx1, sy2 - sy1) and 0 <= sx1 and sx2 <= w and 0 <= sy1 and sy2 <= h
    assert p[0][2:4] == (60, 130) and p[3][:2] == (60, 130)  # image 0 ends and image 3 starts at the centre


@pytest.mark.parametrize("seed", range(4))
def test_mosaic_boxes_follow_their_images(seed):
    rng = np.random.default_rng(seed)
    s = 96
    items = [sample(k, *rng.integers(40, 97, 2), rng) for k in range(4)]
    t = A.Compose([YoloMosaic(s, fill=114)], bbox_params=bbox_params(AugmentConfig()), seed=seed)
    meta = [{"image": i, "bboxes": b, "labels": l} for i, b, l in items[1:]]
    out = t(image=items[0][0], bboxes=items[0][1], labels=items[0][2], mosaic_metadata=meta)
    assert out["image"].shape == (2 * s, 2 * s, 3)
    assert (out["image"] == 114).all(-1).any()  # grey canvas around smaller images
    assert len(out["bboxes"]) == sum(len(b) for _, b, _ in items)  # images are fully inside the 2s canvas
    assert_boxes_on_their_objects(out["image"], np.asarray(out["bboxes"]), out["labels"])


@pytest.mark.parametrize("mosaic", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_train_pipeline_keeps_boxes_consistent(mosaic, seed):
    rng = np.random.default_rng(seed)
    s = 128
    cfg = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0)  # colour kept so the test can check boxes by colour
    geo, col = build_train_geometry(cfg, s, mosaic, seed=seed), build_train_color(cfg, seed=seed)
    n_out = 0
    for _ in range(5):
        items = [sample(k, *rng.integers(60, 129, 2), rng) for k in range(4)]
        meta = [{"image": i, "bboxes": b, "labels": l} for i, b, l in items[1:]]
        kw = {"mosaic_metadata": meta} if mosaic else {}
        out = geo(image=items[0][0], bboxes=items[0][1], labels=items[0][2], **kw)
        out = col(image=out["image"], bboxes=out["bboxes"], labels=out["labels"])
        assert out["image"].shape == (s, s, 3) and out["image"].dtype == np.uint8
        assert_boxes_on_their_objects(out["image"], np.asarray(out["bboxes"]).reshape(-1, 4), out["labels"])
        n_out += len(out["bboxes"])
    assert n_out > 0


def test_horizontal_flip_mirrors_boxes():
    img, boxes, labels = solid_image(50, 100, [(10, 5, 30, 25)], [COLOURS[0]]), np.array([[10, 5, 30, 25.0]]), [0]
    cfg = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0, fliplr=1.0)
    out = build_train_color(cfg, seed=0)(image=img, bboxes=boxes, labels=labels)
    np.testing.assert_allclose(out["bboxes"], [[70, 5, 90, 25]])
    np.testing.assert_array_equal(out["image"], img[:, ::-1])


def test_random_hsv_gains():
    img = solid_image(4, 4, bg=(200, 100, 50))
    t = RandomHSV(0.5, 0.5, 0.5)
    np.testing.assert_allclose(t.apply(img, gains=[1.0, 1.0, 1.0]).astype(int), img, atol=2)
    darker = t.apply(img, gains=[1.0, 1.0, 0.5]).astype(int)
    np.testing.assert_allclose(darker, np.round(np.array(img) * 0.5), atol=3)  # V scales every channel
    grey = t.apply(img, gains=[1.0, 0.0, 1.0])
    assert np.ptp(grey[0, 0].astype(int)) <= 1  # zero saturation: grey of the same value
    hue = t.apply(img, gains=[1.9, 1.0, 1.0])
    assert hue.max() <= 255 and not np.array_equal(hue, img)
    out = RandomHSV(0.015, 0.7, 0.4, p=1.0)(image=img)["image"]  # through the albumentations call path
    assert out.shape == img.shape and out.dtype == np.uint8


def test_mixup_blends_and_keeps_all_boxes():
    a = (np.full((8, 8, 3), 200, np.uint8), np.array([[0, 0, 4, 4.0]]), np.array([1]))
    b = (np.full((8, 8, 3), 100, np.uint8), np.array([[2, 2, 8, 8.0], [1, 1, 3, 3]]), np.array([0, 2]))
    img, boxes, labels = mixup(a, b, 0.25)
    assert (img == 125).all() and len(boxes) == 3 and labels.tolist() == [1, 0, 2]


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_canvas_equals_a_grey_canvas_with_pasted_images(seed):
    from yolo12l.data.mosaic import mosaic_canvas

    rng = np.random.default_rng(seed)
    s = 64
    images = [rng.integers(0, 255, (*rng.integers(8, 65, 2), 3), dtype=np.uint8) for _ in range(4)]
    center = (int(rng.integers(s // 2, 3 * s // 2)), int(rng.integers(s // 2, 3 * s // 2)))
    want = np.full((2 * s, 2 * s, 3), 114, np.uint8)
    for im, (x1, y1, x2, y2, sx1, sy1, sx2, sy2) in zip(images, mosaic_placements(s, center,
                                                                                 [i.shape[:2] for i in images])):
        want[y1:y2, x1:x2] = im[sy1:sy2, sx1:sx2]
    got, shifts = mosaic_canvas(images, center, s, 114)
    np.testing.assert_array_equal(got, want)
    assert len(shifts) == 4


@pytest.mark.parametrize("channels", [3, 4])
def test_apply_hsv_equals_one_three_channel_table_lookup(channels):
    """apply_hsv looks each HSV plane up in its own table: the same values as one 3-channel cv2.LUT on the HSV image
    (the computation before the planes were split), for RGB and RGBX inputs and reused buffers."""
    import cv2

    from yolo12l.data.transforms import apply_hsv

    rng = np.random.default_rng(channels)
    out, planes = np.empty((37, 53, 3), np.uint8), np.empty((3, 37, 53), np.uint8)
    x = np.arange(256, dtype=np.float32)
    for _ in range(8):
        img = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
        gains = [1 + float(rng.uniform(-1, 1)) * g for g in (0.5, 0.9, 0.9)]
        lut = np.stack([(x * gains[0]) % 180, np.clip(x * gains[1], 0, 255), np.clip(x * gains[2], 0, 255)], 1)
        want = cv2.cvtColor(cv2.LUT(cv2.cvtColor(img, cv2.COLOR_RGB2HSV), lut.astype(np.uint8)[None]),
                            cv2.COLOR_HSV2RGB)
        np.testing.assert_array_equal(apply_hsv(img, gains), want)
        got = apply_hsv(img, gains, out=out, planes=planes)
        assert got.ctypes.data == out.ctypes.data
        np.testing.assert_array_equal(got, want)
