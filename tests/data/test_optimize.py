"""``yolo12l optimize-data`` through the console entry point: shards hold the original file bytes and the records,
the side file the classes; user mistakes are one line, exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolo12l.cli import main as cli_main
from yolo12l.data import SyntheticDataModule
from yolo12l.data.optimize import META_FILE


def test_optimize_data_command_writes_the_original_files(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  class_path: yolo12l.data.SyntheticDataModule\n  init_args:\n    num_train: 6\n"
                   f"    num_val: 2\n    seed: 2\n    cache_dir: {tmp_path / 'cache'}\n")
    out = tmp_path / "out"
    assert cli_main(["optimize-data", "--config", str(cfg), "--split", "train", "--out", str(out),
                     "--chunk-size", "4"]) == 0
    assert "wrote 6 images" in capsys.readouterr().out
    meta = json.loads((out / META_FILE).read_text())
    assert meta["class_names"] == ["circle", "square", "triangle", "star", "cross"]
    assert meta["category_ids"] == [1, 2, 3, 4, 5] and meta["num_images"] == 6 and meta["chunk_size"] == 4
    index = json.loads((out / "index.json").read_text())
    assert [c["chunk_size"] for c in index["chunks"]] == [4, 2]
    from litdata import StreamingDataset

    records = SyntheticDataModule(num_train=6, num_val=2, seed=2, cache_dir=tmp_path / "cache").split("train").records
    raw = StreamingDataset(str(out))
    assert len(raw) == 6
    for i, r in enumerate(records):
        item = raw[i]
        assert item["image"] == Path(r.file).read_bytes()  # the encoded file itself, not re-encoded
        assert bytes(item["file"]).decode() == r.file and item["image_id"] == r.image_id
        assert (item["width"], item["height"]) == (r.width, r.height)
        assert (item["boxes"] == r.boxes).all() and (item["labels"] == r.labels).all()
    # a second run into the same folder is refused unless --overwrite
    assert cli_main(["optimize-data", "--config", str(cfg), "--out", str(out)]) == 2
    assert f"yolo12l optimize-data: error: {out}: exists and is not an empty folder" in capsys.readouterr().err
    assert cli_main(["optimize-data", "--config", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2
    assert "missing.yaml: config file not found" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert cli_main(["optimize-data", "--config", str(cfg), "--out", str(tmp_path / "mine"), "--overwrite"]) == 2
    assert "not a shard folder (no index.json)" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert cli_main(["optimize-data", "--config", str(cfg), "--out", "s3://bucket/x"]) == 2
    assert "yolo12l optimize-data: error: --out s3://bucket/x: write the shards to a local folder" in \
        capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["yolo", "voc"])
def test_shards_from_yolo_and_voc_datamodules(datasets_dir, tmp_path, fmt):
    """COCO128 as YOLO txt and VOC128: every record (crowd / difficult regions included) comes back from the shards
    unchanged, and evaluation samples equal the folder loader's."""
    import numpy as np
    import torch

    from yolo12l.data import DetectionDataset, StreamingDataModule, VOCDataModule, YoloDataModule, write_shards

    if fmt == "yolo":
        dm = YoloDataModule(datasets_dir / "coco128" / "coco128.yaml", cache_dir=tmp_path / "c")
    else:
        dm = VOCDataModule(datasets_dir / "voc128" / "VOCdevkit" / "VOC2007", cache_dir=tmp_path / "c")
    meta = write_shards(dm, "val", tmp_path / "s", chunk_size=32)
    records = dm.split("val").records
    assert meta["num_images"] == len(records) and meta["class_names"] == dm.class_names
    stream = StreamingDataModule(str(tmp_path / "s"), val_dir=str(tmp_path / "s"), imgsz=320)
    assert stream.class_names == dm.class_names and stream.label_to_category_id == dm.label_to_category_id
    stream.setup("validate")
    shard_records = stream.datasets["val"].samples.records
    for r, s in zip(records, shard_records):
        assert (s.file, s.image_id, s.width, s.height) == (r.file, r.image_id, r.width, r.height)
        for key in ("boxes", "labels", "crowd_boxes", "crowd_labels"):
            assert np.array_equal(getattr(s, key), getattr(r, key)), key
    folder = DetectionDataset(records, 320, None)
    for i in (0, 5, len(records) - 1):
        a, b = stream.datasets["val"].samples[i], folder[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["boxes"], b["boxes"])
        assert torch.equal(a["meta"]["crowd_boxes"], b["meta"]["crowd_boxes"])
