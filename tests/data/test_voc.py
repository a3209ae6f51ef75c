"""Pascal VOC reader: 1-based coordinates, difficult, unknown names, malformed XML, combined sets."""
from pathlib import Path

import numpy as np

from datatest_utils import save_rgb, solid_image
from yolo12l.data.records import IssueKind
from yolo12l.data.voc import VOC_CLASSES, parse_voc

XML = """<annotation><filename>{name}.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{cls}</name><difficult>{diff}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>" \
      "<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"


def make_voc(root: Path, split: str, items: dict) -> Path:
    """items: id -> list of (cls, difficult, (xmin, ymin, xmax, ymax)) or a raw XML string."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for iid, objs in items.items():
        save_rgb(root / "JPEGImages" / f"{iid}.jpg", solid_image(50, 80))
        xml = objs if isinstance(objs, str) else XML.format(
            name=iid, w=80, h=50, objects="".join(OBJ.format(cls=c, diff=d, b=b) for c, d, b in objs))
        (root / "Annotations" / f"{iid}.xml").write_text(xml)
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(items) + "\n")
    return root


def test_shared_voc128(datasets_dir):
    root = datasets_dir / "voc128" / "VOCdevkit" / "VOC2007"
    p = parse_voc([(root, "train")])
    assert p.class_names == list(VOC_CLASSES) and p.category_ids == list(range(20))
    assert p.report.num_images == 97 and not p.report.problems
    both = parse_voc([(root, "train"), (root, "val")])
    assert both.report.num_images == 197 and len({r.image_id for r in both.records}) == 197


def test_one_based_conversion_difficult_unknown(tmp_path):
    root = make_voc(tmp_path / "VOC2007", "train", {
        "000001": [("dog", 0, (1, 1, 10, 20)), ("cat", 1, (5, 5, 30, 30)), ("unicorn", 0, (2, 2, 9, 9)),
                   ("dog", 0, (70, 40, 95, 60))],
        "000002": [],
    })
    p = parse_voc([(root, "train")])
    r = {x.image_id: x for x in p.records}
    np.testing.assert_allclose(r[1].boxes, [[0, 0, 10, 20], [69, 39, 80, 50]])  # xmin-1, ymin-1; clipped
    assert r[1].labels.tolist() == [VOC_CLASSES.index("dog")] * 2
    c = p.report.counts()
    assert c["difficult_excluded"] == 1 and c["unknown_class"] == 1 and c["box_clipped"] == 1
    assert "unicorn" in p.report.summary(list_files=True)
    assert len(r[2].boxes) == 0 and p.report.files(IssueKind.NO_BOXES) == [r[2].file]  # background kept
    keep = parse_voc([(root, "train")], keep_difficult=True)
    assert sum(len(x.boxes) for x in keep.records) == 3


def test_custom_classes_and_malformed_xml(tmp_path):
    root = make_voc(tmp_path / "VOC2012", "val", {
        "a": [("widget", 0, (1, 1, 10, 10)), ("dog", 0, (1, 1, 10, 10))],
        "b": "<annotation><object><name>widget</name>",  # truncated XML
        "c": [("widget", 0, ("nan", 1, 10, 10)), ("widget", 0, (6, 5, 5, 9))],  # NaN, xmax < xmin
    })
    (root / "Annotations" / "c.xml").write_text((root / "Annotations" / "c.xml").read_text().replace(">nan<", ">x<"))
    p = parse_voc([(root, "val")], class_names=["widget"])
    assert p.class_names == ["widget"] and len(p.records) == 2
    rep = p.report
    assert rep.files(IssueKind.MALFORMED_ANNOTATION) == [str(root / "Annotations" / "b.xml")]
    c = rep.counts()
    assert c["unknown_class"] == 1 and c["box_nan"] == 1 and c["box_degenerate"] == 1
    assert {x.image_id for x in p.records} == {0, 1}  # non-numeric stems get fresh ids


def test_missing_split_and_image(tmp_path):
    root = make_voc(tmp_path / "VOC2007", "train", {"000001": [("dog", 0, (1, 1, 10, 10))]})
    (root / "JPEGImages" / "000001.jpg").unlink()
    p = parse_voc([(root, "train"), (root, "nosuchsplit")])
    assert p.records == [] and p.report.counts()["missing_image"] == 1
    assert any("nosuchsplit.txt" in f for f in p.report.files(IssueKind.MALFORMED_ANNOTATION))
