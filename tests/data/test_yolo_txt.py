"""YOLO txt reader: dataset YAML, label lookup, malformed lines, polygons, background images."""
import numpy as np
import pytest

from datatest_utils import save_rgb, solid_image
from yolo12l.data.records import NoUsableDataError
from yolo12l.data.yolo_txt import label_path, load_data_yaml, parse_yolo


def test_label_path():
    from pathlib import Path
    assert label_path(Path("/d/images/train/a.b.jpg")) == Path("/d/labels/train/a.b.txt")
    assert label_path(Path("/images/x/images/val/1.png")) == Path("/images/x/labels/val/1.txt")


def test_shared_coco128_yaml(datasets_dir):
    y = datasets_dir / "coco128" / "coco128.yaml"
    data = load_data_yaml(y)
    assert data["path"] == y.parent.resolve() and len(data["names"]) == 80 and data["names"][0] == "person"
    p = parse_yolo(y, "val")
    assert p.report.num_images == 128 and p.report.num_boxes == 898 and p.category_ids == list(range(80))


def test_lines_polygons_and_background(tmp_path):
    ds = tmp_path / "ds"
    for n in ("a", "b", "c"):
        save_rgb(ds / "images" / "train" / f"{n}.jpg", solid_image(100, 200))
    (ds / "labels" / "train").mkdir(parents=True)
    (ds / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.2 0.4\n"          # fine
        "1 0.1 0.1 0.3 0.1 0.3 0.3\n"  # polygon -> bbox
        "7 0.5 0.5 0.1 0.1\n"          # class out of range
        "0 0.5 0.5\n"                  # too few values
        "x 0.5 0.5 0.1 0.1\n"          # not numeric
        "1 0.95 0.5 0.2 0.2\n"         # crosses the right edge -> clipped
        "1 0.5 0.5 0 0.2\n")           # zero width
    (ds / "labels" / "train" / "b.txt").write_text("")  # empty -> background; c has no label file
    (tmp_path / "data.yaml").write_text("path: ds\ntrain: images/train\nnames: {0: cat, 1: dog}\n")
    p = parse_yolo(tmp_path / "data.yaml", "train")
    rec = {r.file.split("/")[-1]: r for r in p.records}
    np.testing.assert_allclose(rec["a.jpg"].boxes, [[80, 30, 120, 70], [20, 10, 60, 30], [170, 40, 200, 60]], atol=1e-4)
    assert rec["a.jpg"].labels.tolist() == [0, 1, 1]
    c = p.report.counts()
    assert c["unknown_class"] == 1 and c["malformed_annotation"] == 2 and c["box_clipped"] == 1
    assert c["box_degenerate"] == 1 and c["no_boxes"] == 2
    assert len(rec["b.jpg"].boxes) == 0 and len(rec["c.jpg"].boxes) == 0


def test_txt_list_split_and_yaml_errors(tmp_path):
    save_rgb(tmp_path / "images" / "x.jpg", solid_image(20, 20))
    (tmp_path / "list.txt").write_text("./images/x.jpg\n")
    (tmp_path / "d.yaml").write_text("path: .\nval: list.txt\nnames: [only]\n")
    p = parse_yolo(tmp_path / "d.yaml", "val")
    assert [r.file for r in p.records] == [str(tmp_path / "images" / "x.jpg")] and p.class_names == ["only"]
    with pytest.raises(NoUsableDataError, match="no 'train' entry"):
        parse_yolo(tmp_path / "d.yaml", "train")
    (tmp_path / "bad.yaml").write_text("names: [a\n  b: c")
    with pytest.raises(NoUsableDataError, match="bad.yaml: malformed dataset YAML"):
        load_data_yaml(tmp_path / "bad.yaml")
