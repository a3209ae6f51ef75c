"""Bad input at scale: decompression bombs (max_pixels) for every decoder and cache path, label files with 10^5 boxes,
upper-case and mixed image extensions."""
import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from datatest_utils import save_rgb, solid_image
from yolo12l.data import image_cache
from yolo12l.data.coco import parse_coco
from yolo12l.data.collate import collate_training
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.datamodule import CocoDataModule
from yolo12l.data.images import ImageLoadError, list_images, probe_image, read_image
from yolo12l.data.records import IssueKind
from yolo12l.data.transforms import AugmentConfig
from yolo12l.data.yolo_txt import parse_yolo


def jpeg_bomb(path, width=16000, height=12000):
    """A small real JPEG whose frame header claims ``width`` x ``height`` (what a 1 MB 16000x12000 bomb's header
    says; decoding it would allocate width*height*3 bytes)."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))
    data = bytearray(buf.tobytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def png_bomb(path, width=16000, height=12000):
    """A PNG whose IHDR claims ``width`` x ``height`` (CRC fixed), with one tiny IDAT."""
    b = io.BytesIO()
    Image.new("RGB", (4, 4)).save(b, "PNG")
    data = bytearray(b.getvalue())
    ihdr = data[12:29]
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def bomb_coco(tmp_path):
    d = tmp_path / "images"
    save_rgb(d / "good.jpg", solid_image(64, 80, [(10, 10, 40, 50)], [(255, 0, 0)]))
    jpeg_bomb(d / "bomb.jpg")  # 16000x12000: over PIL's own limit too
    png_bomb(d / "bomb.png")
    jpeg_bomb(d / "mid.jpg", 12000, 10000)  # 120 Mpx: over ours only
    imgs = [{"id": 1, "file_name": "good.jpg", "width": 80, "height": 64},
            {"id": 2, "file_name": "bomb.jpg", "width": 16000, "height": 12000},
            {"id": 3, "file_name": "bomb.png", "width": 16000, "height": 12000},
            {"id": 4, "file_name": "mid.jpg", "width": 12000, "height": 10000}]
    anns = [{"id": k, "image_id": k, "category_id": 1, "bbox": [10, 10, 30, 40]} for k in (1, 2, 3, 4)]
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    return ann, d


@pytest.mark.parametrize("name", ["bomb.jpg", "bomb.png"])
def test_every_decoder_refuses_a_bomb_before_decoding(bomb_coco, name):
    _, d = bomb_coco
    for call in (lambda: probe_image(d / name), lambda: read_image(d / name), lambda: read_image(d / name, 640),
                 lambda: image_cache.decode_resized(d / name, 640)):
        with pytest.raises(ImageLoadError, match="192 Mpx is over") as e:
            call()
        assert e.value.kind == IssueKind.TOO_LARGE
    # between our limit and PIL's own (179 Mpx): ours names it; max_pixels=None lets the header through
    mid = (jpeg_bomb if name.endswith("jpg") else png_bomb)(d / f"mid{name[-4:]}", 12000, 10000)
    with pytest.raises(ImageLoadError, match="12000x10000 = 120 Mpx is over the max_pixels limit of 100 Mpx"):
        probe_image(mid)
    with pytest.raises(ImageLoadError, match="120 Mpx is over the max_pixels limit of 100 Mpx"):
        read_image(mid)
    assert probe_image(mid, max_pixels=None).width == 12000
    with pytest.raises(ImageLoadError, match="max_pixels limit of 0.001 Mpx"):
        read_image(d / "good.jpg", max_pixels=1000)


def test_bombs_are_named_and_skipped_at_parse_time(bomb_coco):
    ann, d = bomb_coco
    p = parse_coco(ann, d)
    assert [r.file for r in p.records] == [str(d / "good.jpg")]
    assert sorted(p.report.files(IssueKind.TOO_LARGE)) == [str(d / f) for f in ("bomb.jpg", "bomb.png", "mid.jpg")]
    summary = p.report.summary(list_files=True)
    assert "bomb.jpg: 192 Mpx is over the max_pixels limit of 100 Mpx: image skipped" in summary
    assert "mid.jpg: 12000x10000 = 120 Mpx is over the max_pixels limit of 100 Mpx: image skipped" in summary
    lifted = parse_coco(ann, d, max_pixels=None)  # the user may lift our limit; PIL's own stays
    assert [r.file for r in lifted.records] == [str(d / "good.jpg"), str(d / "mid.jpg")]
    unverified = parse_coco(ann, d, verify="none")  # annotated sizes are checked too
    assert len(unverified.records) == 1 and len(unverified.report.files(IssueKind.TOO_LARGE)) == 3


def test_datamodule_max_pixels_reaches_parse_and_every_cache_path(bomb_coco, tmp_path, monkeypatch):
    ann, d = bomb_coco
    dm = CocoDataModule(ann, d, imgsz=64, batch_size=1, num_workers=0, cache_dir=tmp_path / "c", max_pixels=10**6)
    assert len(dm.split("train").records) == 1
    # a bomb that slipped past parsing (file replaced later, or max_pixels lifted there) fails in the loaders
    recs = parse_coco(ann, d, max_pixels=None).records
    assert len(recs) == 2
    for cache in (None, "ram", "disk"):
        ds = DetectionDataset(recs, 64, AugmentConfig(mosaic=0.0), seed=0, cache_images=cache, cache_dir=tmp_path,
                              max_pixels=10**6)
        assert ds._failed.tolist() == ([0, 1] if cache else [0, 0])  # the fill names it
        assert ds[1]["meta"]["index"] == 0  # replaced, never decoded
        assert ds._failed.tolist() == [0, 1]
    ev = DetectionDataset(recs, 64, max_pixels=10**6)[1]
    assert ev["meta"]["load_failed"] and ev["image"].shape == (3, 64, 64)


def test_label_file_with_100k_boxes(tmp_path):
    save_rgb(tmp_path / "ds" / "images" / "train" / "many.jpg", solid_image(200, 300))
    rng = np.random.default_rng(0)
    n = 100_000
    cxcy = rng.uniform(0.1, 0.9, (n, 2))
    wh = rng.uniform(0.01, 0.1, (n, 2))
    (tmp_path / "ds" / "labels" / "train").mkdir(parents=True)
    (tmp_path / "ds" / "labels" / "train" / "many.txt").write_text(
        "\n".join(f"{k % 3} {a:.5f} {b:.5f} {c:.5f} {e:.5f}" for k, (a, b, c, e) in enumerate(np.hstack([cxcy, wh]))))
    (tmp_path / "d.yaml").write_text("path: ds\ntrain: images/train\nnames: [a, b, c]\n")
    p = parse_yolo(tmp_path / "d.yaml", "train")
    assert p.report.num_boxes == n and len(p.records[0].boxes) == n and not p.report.problems
    ds = DetectionDataset(p.records, 128, AugmentConfig(), seed=0)
    s = ds[0]
    assert len(s["boxes"]) > 1000 and s["boxes"].shape[1] == 4
    b = collate_training([s, ds[0]], num_classes=3)
    assert b["targets"].shape == (2 * len(s["boxes"]), 6)


def test_upper_case_and_mixed_extensions(tmp_path):
    ds = tmp_path / "ds"
    img = solid_image(40, 60, [(10, 10, 30, 30)], [(255, 0, 0)])
    names = ["a.JPG", "b.jpeg", "c.png", "d.webp", "e.bmp", "f.tif", "g.Jpeg", "h.PNG", "i.TIFF"]
    for n in names:
        (ds / "images" / "train").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(ds / "images" / "train" / n)
    (ds / "images" / "train" / "notes.txt").write_text("not an image")
    (ds / "labels" / "train").mkdir(parents=True)
    for n in names:
        (ds / "labels" / "train" / (n.rsplit(".", 1)[0] + ".txt")).write_text("0 0.333 0.5 0.333 0.5\n")
    assert [f.name for f in list_images(ds / "images")] == sorted(names)
    (tmp_path / "d.yaml").write_text("path: ds\ntrain: images/train\nnames: [red]\n")
    p = parse_yolo(tmp_path / "d.yaml", "train")
    assert sorted(r.file.rsplit("/", 1)[1] for r in p.records) == sorted(names)
    assert p.report.num_boxes == len(names) and not p.report.problems
    for r in p.records:
        a = read_image(r.file)
        assert a.shape == (40, 60, 3)
        assert a[20, 20, 0] > 200 and a[20, 20, 1] < 60  # red where the box is, for every format
        np.testing.assert_allclose(r.boxes, [[10, 10, 30, 30]], atol=0.1)
