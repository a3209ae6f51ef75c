"""COCO JSON reader: category mapping, crowd, and every bad-input case counted in one report."""
import json

import numpy as np
import pytest

from yolo12l.data.coco import parse_coco
from yolo12l.data.records import IssueKind, NoUsableDataError


def test_shared_coco128_category_mapping(datasets_dir):
    root = datasets_dir / "coco128"
    ann = root / "annotations" / "instances_val2017.json"
    p = parse_coco(ann, root / "images" / "val2017")
    data = json.loads(ann.read_text())
    assert len(p.class_names) == 80 and p.category_ids == sorted(c["id"] for c in data["categories"])
    assert p.category_ids[-1] == 90 and len(set(range(1, 91)) - set(p.category_ids)) == 10  # non-contiguous
    assert p.report.num_images == 128 and p.report.num_boxes == 898
    # every box's class index maps back to the category id of the same annotation
    by_image = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for r in p.records:
        anns = by_image.get(r.image_id, [])
        assert sorted(p.category_ids[k] for k in r.labels) == sorted(a["category_id"] for a in anns)
        xyxy = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                         for a in anns]).reshape(-1, 4)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, r.width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, r.height)
        assert np.allclose(np.sort(r.boxes, 0), np.sort(xyxy, 0), atol=1e-3)


def test_bad_inputs_are_fixed_dropped_or_skipped_and_counted(bad_coco):
    ann, d, f = bad_coco
    p = parse_coco(ann, d)
    rep = p.report
    kept = {r.file for r in p.records}
    # skipped images, each named with its reason
    assert rep.files(IssueKind.EMPTY_FILE) == [str(f["zero"])]
    assert rep.files(IssueKind.MISSING_IMAGE) == [str(f["missing"])]
    assert set(rep.files(IssueKind.CORRUPT_IMAGE)) == {str(f["corrupt"]), str(f["trunc"])}
    assert not kept & {str(f[k]) for k in ("zero", "missing", "corrupt", "trunc")}
    # converted but kept
    assert {str(f[k]) for k in ("gray", "rgba", "g16", "exif")} <= kept
    assert set(rep.files(IssueKind.CONVERTED)) == {str(f["gray"]), str(f["rgba"]), str(f["g16"])}
    assert rep.files(IssueKind.EXIF_ROTATED) == [str(f["exif"])]
    exif = next(r for r in p.records if r.file == str(f["exif"]))
    assert (exif.width, exif.height) == (80, 100)  # displayed orientation, matches the annotation
    assert IssueKind.SIZE_MISMATCH.value not in rep.counts()
    # background image kept
    assert str(f["empty"]) in kept and rep.files(IssueKind.NO_BOXES) == [str(f["empty"])]
    # duplicate id: first kept, second ignored
    assert rep.files(IssueKind.DUPLICATE_IMAGE) == [str(f["dup"])] and str(f["dup"]) not in kept
    # boxes of the good image: clipped, degenerate/NaN/crowd/unknown dropped
    good = next(r for r in p.records if r.file == str(f["good"]))
    np.testing.assert_allclose(good.boxes, [[10, 10, 50, 60], [100, 80, 120, 100]])
    assert good.labels.tolist() == [1, 0]  # category 7 -> index 1, category 3 -> index 0
    c = rep.counts()
    assert c["box_clipped"] == 1 and c["box_degenerate"] == 2 and c["box_nan"] == 1 and c["crowd_excluded"] == 1
    assert c["unknown_class"] == 1 and c["malformed_annotation"] == 1  # annotation on unknown image id
    assert p.category_ids == [3, 7] and p.class_names == ["car", "train"]
    assert rep.num_listed == 10 and rep.num_images == len(p.records) == 6
    text = rep.summary(list_files=True)
    for k in ("zero", "missing", "corrupt", "trunc", "dup"):
        assert str(f[k]) in text


def test_malformed_json_is_a_clear_error(tmp_path):
    bad = tmp_path / "instances_x.json"
    bad.write_text('{"images": [{"id": 1,, }]}')
    with pytest.raises(NoUsableDataError, match=r"instances_x\.json: malformed JSON \(line 1"):
        parse_coco(bad, tmp_path)
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(NoUsableDataError, match="not a COCO instances file"):
        parse_coco(tmp_path / "other.json", tmp_path)
    with pytest.raises(NoUsableDataError, match="not found"):
        parse_coco(tmp_path / "nope.json", tmp_path)


def test_nothing_usable_raises(tmp_path):
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "gone.jpg"}], "annotations": [],
                               "categories": [{"id": 1, "name": "x"}]}))
    p = parse_coco(ann, tmp_path)
    assert p.records == [] and p.report.files(IssueKind.MISSING_IMAGE) == [str(tmp_path / "gone.jpg")]
    with pytest.raises(NoUsableDataError, match="gone.jpg"):
        p.require_usable()


def test_val_uses_train_categories(bad_coco):
    ann, d, f = bad_coco
    p = parse_coco(ann, d, categories=(["train"], [7]))
    good = next(r for r in p.records if r.file == str(f["good"]))
    assert good.labels.tolist() == [0] and p.category_ids == [7]
    assert p.report.counts()["unknown_class"] >= 3  # category 3 boxes are now unknown


def test_verify_none_trusts_annotations(bad_coco):
    ann, d, f = bad_coco
    p = parse_coco(ann, d, verify="none")
    assert str(f["missing"]) in {r.file for r in p.records}  # not opened: found out at load time instead
    assert "missing_image" not in p.report.counts()


def test_a_large_file_is_read_with_lines_before_and_after_and_annotation_progress(bad_coco, monkeypatch, caplog):
    """The thresholds lowered to this small file: the same lines a 120k-image COCO JSON gets (size before, seconds and
    counts after, then the annotations with progress), and the same split as without them."""
    import logging

    from yolo12l.data import coco

    ann, images, _ = bad_coco
    quiet = parse_coco(ann, images)
    monkeypatch.setattr(coco, "BIG_JSON_BYTES", 1)
    monkeypatch.setattr(coco, "PROGRESS_ANNOTATIONS", 1)
    with caplog.at_level(logging.INFO, logger="yolo12l.data"):
        loud = parse_coco(ann, images)
    lines = [r.getMessage() for r in caplog.records]
    n_images, n_anns = (len(v) for v in (json.loads(ann.read_text())[k] for k in ("images", "annotations")))
    assert any(line.startswith(f"{ann}: reading ") and " MB of COCO JSON" in line for line in lines), lines
    assert any(line.startswith(f"{ann}: read in ") and line.endswith(f" s: {n_images} images, {n_anns} annotations")
               for line in lines), lines
    assert any(line.startswith(f"reading annotations: {n_anns} done in ") for line in lines), lines
    assert [(r.file, r.boxes.tolist(), r.labels.tolist()) for r in loud.records] == [
        (r.file, r.boxes.tolist(), r.labels.tolist()) for r in quiet.records]
    assert [(i.kind, i.message) for i in loud.report.issues] == [(i.kind, i.message) for i in quiet.report.issues]
