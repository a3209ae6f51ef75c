"""Robust image reading: conversions, EXIF orientation and clear errors for broken files."""
import numpy as np
import pytest
from PIL import Image

from yolo12l.data.images import ImageLoadError, list_images, probe_image, read_image
from yolo12l.data.records import IssueKind


def test_grayscale_rgba_16bit_become_8bit_rgb(bad_coco):
    _, _, f = bad_coco
    g = read_image(f["gray"])
    assert g.shape == (80, 100, 3) and g.dtype == np.uint8 and (g == 128).all()
    a = read_image(f["rgba"])
    assert a.shape == (80, 100, 3) and (a == 200).all()
    s = read_image(f["g16"])
    assert s.shape == (80, 100, 3) and (s == round(40000 / 257)).all()
    assert probe_image(f["g16"]).conversion.startswith("16-bit")
    assert "alpha" in probe_image(f["rgba"]).conversion
    assert probe_image(f["good"]).conversion is None


def test_exif_orientation_applied(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)  # stored 60 wide x 40 high
    img[:10, :20] = (255, 0, 0)  # red block at the stored top-left
    ex = Image.Exif()
    ex[0x0112] = 6  # viewer rotates 90 deg clockwise
    p = tmp_path / "rot.jpg"
    Image.fromarray(img).save(p, exif=ex, quality=100)
    info = probe_image(p)
    assert (info.width, info.height, info.orientation) == (40, 60, 6)
    out = read_image(p)
    assert out.shape == (60, 40, 3)
    # stored top-left ends up at the displayed top-right after a clockwise rotation
    assert out[:20, -10:, 0].mean() > 200 and out[:20, :10, 0].mean() < 50


@pytest.mark.parametrize("name,kind", [("zero", IssueKind.EMPTY_FILE), ("missing", IssueKind.MISSING_IMAGE),
                                       ("corrupt", IssueKind.CORRUPT_IMAGE), ("trunc", IssueKind.CORRUPT_IMAGE)])
def test_probe_reports_broken_files(bad_coco, name, kind):
    _, _, f = bad_coco
    with pytest.raises(ImageLoadError) as e:
        probe_image(f[name])
    assert e.value.kind == kind and str(f[name]) in str(e.value)


@pytest.mark.parametrize("name", ["zero", "missing", "corrupt", "trunc"])
def test_read_raises_clear_error(bad_coco, name):
    _, _, f = bad_coco
    with pytest.raises(ImageLoadError, match=f[name].name):
        read_image(f[name])


def test_jpeg_draft_keeps_at_least_requested_size(tmp_path):
    p = tmp_path / "big.jpg"
    Image.fromarray(np.full((1200, 1600, 3), 90, np.uint8)).save(p)
    small = read_image(p, draft_size=256)
    assert min(small.shape[:2]) >= 256 and small.shape[1] < 1600
    assert small.shape[1] / small.shape[0] == pytest.approx(4 / 3)


def test_list_images(bad_coco, tmp_path):
    _, d, f = bad_coco
    files = list_images(d)
    assert f["good"] in files and f["gray"] in files and all(p.suffix in (".jpg", ".png") for p in files)
    assert list_images(str(d / "*.png")) == sorted(p for p in files if p.suffix == ".png")


def test_opencv_jpeg_decode_equals_pil(tmp_path, datasets_dir):
    """JPEGs decode through OpenCV (faster) to exactly PIL's pixels: every EXIF orientation, grayscale, reduced-size
    (draft) decoding, real COCO photos; CMYK JPEGs are left to PIL."""
    from yolo12l.data.images import _read_jpeg_cv2, _read_pil

    rng = np.random.default_rng(0)
    img = np.repeat(np.repeat((rng.random((30, 50, 3)) * 255).astype(np.uint8), 8, 0), 8, 1)  # 240 x 400
    files = []
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        files.append(tmp_path / f"o{o}.jpg")
        Image.fromarray(img).save(files[-1], exif=ex, quality=90)
    files.append(tmp_path / "gray.jpg")
    Image.fromarray(img[..., 1]).save(files[-1])
    files += sorted((datasets_dir / "coco128" / "images" / "val2017").glob("*.jpg"))[:6]
    for f in files:
        for draft in (None, 640, 100, 60):
            assert _read_jpeg_cv2(f, draft) is not None, f
            np.testing.assert_array_equal(read_image(f, draft_size=draft), _read_pil(f, draft), err_msg=f"{f} {draft}")
    Image.fromarray(img).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert _read_jpeg_cv2(tmp_path / "cmyk.jpg", None) is None
    np.testing.assert_array_equal(read_image(tmp_path / "cmyk.jpg"), _read_pil(tmp_path / "cmyk.jpg"))
