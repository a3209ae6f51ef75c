"""check-data CLI: prints the summary naming every problem file; exit status says whether it is usable."""
import json

import pytest

from yolo12l.data.check import main


def test_shared_datasets_are_usable(datasets_dir, capsys):
    c = datasets_dir / "coco128"
    assert main(["--format", "coco", "--annotations", str(c / "annotations/instances_val2017.json"),
                 "--images", str(c / "images/val2017")]) == 0
    assert "128 usable images of 128 listed, 898 boxes" in capsys.readouterr().out
    assert main(["--format", "voc", "--root", str(datasets_dir / "voc128/VOCdevkit/VOC2007"), "--split", "val"]) == 0
    assert "100 usable images" in capsys.readouterr().out
    assert main(["--format", "yolo", "--data", str(c / "coco128.yaml"), "--split", "train"]) == 0
    assert "929 boxes" in capsys.readouterr().out


def test_lists_every_problem_file(bad_coco, capsys):
    ann, d, f = bad_coco
    assert main(["--format", "coco", "--annotations", str(ann), "--images", str(d), "--full"]) == 0
    out = capsys.readouterr().out
    for k in ("zero", "missing", "corrupt", "trunc", "dup", "good"):
        assert str(f[k]) in out, k
    assert "empty_file: 1" in out and "missing_image: 1" in out and "OK: 6 usable images" in out
    assert str(f["gray"]) not in out  # conversions are counted, listed only with --verbose
    assert main(["--format", "coco", "--annotations", str(ann), "--images", str(d), "-v"]) == 0
    out = capsys.readouterr().out
    for k in ("gray", "rgba", "g16", "exif", "empty"):
        assert str(f[k]) in out, k


def test_nothing_usable_or_unreadable_exits_nonzero(tmp_path, capsys):
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "gone.jpg"}], "annotations": [],
                               "categories": [{"id": 1, "name": "x"}]}))
    assert main(["--format", "coco", "--annotations", str(ann), "--images", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert "gone.jpg" in cap.out and "no usable image" in cap.err
    ann.write_text("{oops")
    assert main(["--format", "coco", "--annotations", str(ann), "--images", str(tmp_path)]) == 1
    assert "malformed JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--format", "coco"])
    assert e.value.code == 2


def test_yolo_label_files_without_image_are_named(tmp_path, capsys):
    from datatest_utils import save_rgb, solid_image

    ds = tmp_path / "ds"
    save_rgb(ds / "images" / "train" / "a.jpg", solid_image(40, 40))
    (ds / "labels" / "train" / "sub").mkdir(parents=True)
    (ds / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (ds / "labels" / "train" / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # its image is missing
    (ds / "labels" / "train" / "sub" / "ghost2.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "d.yaml").write_text("path: ds\ntrain: images/train\nnames: [x]\n")
    assert main(["--format", "yolo", "--data", str(tmp_path / "d.yaml")]) == 0
    out = capsys.readouterr().out
    assert "label_without_image: 2" in out
    assert str(ds / "labels" / "train" / "ghost.txt") in out and "ghost2.txt" in out
    assert str(ds / "labels" / "train" / "a.txt") not in out
