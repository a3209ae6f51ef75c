"""Datasets and batching: sample layout, mapping back to originals, load-failure replacement, collate."""
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datatest_utils import save_rgb, solid_image, truncate
from yolo12l.data.coco import parse_coco
from yolo12l.data.collate import collate_detections, targets_to_loss_dict
from yolo12l.data.dataset import DetectionDataset, ImageFolderDataset
from yolo12l.data.letterbox import scale_boxes
from yolo12l.data.records import IssueKind, NoUsableDataError
from yolo12l.data.transforms import AugmentConfig


@pytest.fixture
def synth_split(synth):
    return parse_coco(synth.train_annotations, synth.train_images)


def test_train_sample_layout(synth_split):
    ds = DetectionDataset(synth_split.records, 128, AugmentConfig(), report=synth_split.report)
    for i in range(4):
        s = ds[i]
        assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.uint8
        b = s["boxes"]
        assert b.dtype == torch.float32 and b.shape[1] == 4 and len(b) == len(s["labels"])
        assert (b >= 0).all() and (b <= 128).all() and (b[:, 2:] - b[:, :2] >= 2 - 1e-4).all()
        assert s["labels"].dtype == torch.int64 and ((s["labels"] >= 0) & (s["labels"] < 5)).all()
        m = s["meta"]
        assert m["mosaic"] is True and m["ratio"] is None
        assert m["orig_shape"] == (ds.records[m["index"]].height, ds.records[m["index"]].width)


def test_eval_sample_maps_back_to_original(synth_split):
    ds = DetectionDataset(synth_split.records, 160)
    for i in range(len(ds)):
        s = ds[i]
        m = s["meta"]
        assert s["image"].shape == (3, 160, 160) and not m["load_failed"]
        back = scale_boxes(s["boxes"], (m["ratio"], m["pad"]), m["orig_shape"])
        torch.testing.assert_close(back, m["boxes"], atol=1e-3, rtol=0)
        assert m["image_id"] == ds.records[i].image_id and m["file"] == ds.records[i].file


def test_failed_load_is_replaced_and_reported(synth_split, tmp_path):
    recs = [r for r in synth_split.records[:6]]
    bad = tmp_path / "bad.jpg"
    shutil.copy(recs[2].file, bad)
    truncate(bad, 0.3)
    recs[2] = type(recs[2])(str(bad), recs[2].image_id, recs[2].width, recs[2].height, recs[2].boxes, recs[2].labels)
    ds = DetectionDataset(recs, 96, AugmentConfig(mosaic=0.0), report=synth_split.report)
    s = ds[2]
    assert s["meta"]["index"] != 2 and s["image"].shape == (3, 96, 96)
    assert ds._failed[2] == 1 and ds._failed.sum() == 1
    for i in range(6):  # never retried, never crashes
        assert ds[i]["meta"]["index"] != 2
    assert ds.collect_load_failures() == [str(bad)]
    assert synth_split.report.files(IssueKind.LOAD_FAILED) == [str(bad)]
    ds.collect_load_failures()
    assert synth_split.report.counts()["load_failed"] == 1  # counted once
    ev = DetectionDataset(recs, 96)
    e = ev[2]
    assert e["meta"]["load_failed"] and len(e["boxes"]) == 0 and len(e["meta"]["boxes"]) == 0
    assert (e["image"] == 114).all()


def test_all_images_failing_is_a_clear_error(synth_split, tmp_path):
    recs = []
    for k, r in enumerate(synth_split.records[:3]):
        p = tmp_path / f"{k}.jpg"
        p.write_bytes(b"")
        recs.append(type(r)(str(p), r.image_id, r.width, r.height, r.boxes, r.labels))
    ds = DetectionDataset(recs, 64, AugmentConfig())
    with pytest.raises(NoUsableDataError):
        ds[0]
    with pytest.raises(NoUsableDataError):
        DetectionDataset([], 64)


def test_augmentation_depends_on_seed_epoch_and_index_only(synth_split):
    """Sample = f(seed, epoch, index): the same in any worker and with any number of workers (so a resumed run can
    replay it), different for another index, epoch or seed."""
    def images(ds, order, workers, epoch=0):
        ds.set_epoch(epoch)
        dl = DataLoader(ds, batch_size=1, sampler=order, num_workers=workers, collate_fn=collate_detections)
        return [b["images"][0] for b in dl]

    ds = DetectionDataset(synth_split.records, 64, AugmentConfig(), seed=7)
    two = images(ds, [0, 0, 1, 1], workers=2)  # batches 0, 2 from worker 0 and 1, 3 from worker 1
    assert torch.equal(two[0], two[1]) and torch.equal(two[2], two[3]) and not torch.equal(two[0], two[2])
    main = images(ds, [1, 0], workers=0)
    assert torch.equal(main[0], two[2]) and torch.equal(main[1], two[0])
    assert not torch.equal(images(ds, [0], workers=0, epoch=1)[0], two[0])
    other_seed = DetectionDataset(synth_split.records, 64, AugmentConfig(), seed=8)
    assert not torch.equal(images(other_seed, [0], workers=0)[0], two[0])


def test_collate_and_loss_dict():
    samples = [
        {"image": torch.zeros(3, 40, 80, dtype=torch.uint8),
         "boxes": torch.tensor([[0.0, 0, 40, 20], [40, 20, 80, 40]]), "labels": torch.tensor([3, 1]),
         "meta": {"image_id": 5}},
        {"image": torch.zeros(3, 40, 80, dtype=torch.uint8), "boxes": torch.zeros(0, 4),
         "labels": torch.zeros(0, dtype=torch.int64), "meta": {"image_id": 6}},
        {"image": torch.ones(3, 40, 80, dtype=torch.uint8), "boxes": torch.tensor([[8.0, 4, 16, 12]]),
         "labels": torch.tensor([0]), "meta": {"image_id": 7}},
    ]
    b = collate_detections(samples)
    assert b["images"].shape == (3, 3, 40, 80) and b["images"].dtype == torch.uint8
    torch.testing.assert_close(b["targets"], torch.tensor([
        [0, 3, 0.25, 0.25, 0.5, 0.5], [0, 1, 0.75, 0.75, 0.5, 0.5], [2, 0, 0.15, 0.2, 0.1, 0.2]]))
    assert [m["image_id"] for m in b["meta"]] == [5, 6, 7]
    d = targets_to_loss_dict(b["targets"])
    assert d["batch_idx"].shape == (3,) and d["cls"].shape == (3, 1) and d["bboxes"].shape == (3, 4)
    assert d["batch_idx"].tolist() == [0, 0, 2] and d["cls"].flatten().tolist() == [3, 1, 0]
    empty = collate_detections(samples[1:2])
    assert empty["targets"].shape == (0, 6)


def test_batch_meta_crosses_processes_by_value(synth_split):
    """A worker's batch: images in shared memory (no copy on sending), meta tensors pickled by value (no
    shared-memory segment per small tensor), and the main process gets the same batch as with workers=0."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    ds = DetectionDataset(synth_split.records, 64, AugmentConfig(), seed=3)
    batch = collate_detections([ds[0], ds[1]])
    back = pickle.loads(ForkingPickler.dumps(batch["meta"]))
    assert type(back) is type(batch["meta"]) and len(back) == 2
    for m, b in zip(batch["meta"], back):
        assert set(m) == set(b) and not m["boxes"].is_shared()
        torch.testing.assert_close(b["boxes"], m["boxes"])
        assert b["labels"].dtype == m["labels"].dtype and b["image_id"] == m["image_id"]
    loader = DataLoader(ds, batch_size=2, num_workers=1, collate_fn=collate_detections)
    got = next(iter(loader))
    torch.testing.assert_close(got["images"], batch["images"])
    torch.testing.assert_close(got["targets"], batch["targets"])
    assert [m["index"] for m in got["meta"]] == [0, 1] and isinstance(got["meta"][0]["boxes"], torch.Tensor)


def test_image_folder_dataset(tmp_path):
    save_rgb(tmp_path / "a.jpg", solid_image(100, 150))
    save_rgb(tmp_path / "sub" / "b.png", solid_image(300, 120))
    (tmp_path / "c.jpg").write_bytes(b"broken")
    ds = ImageFolderDataset(tmp_path, imgsz=128)
    assert len(ds) == 3
    items = {s["meta"]["file"].split("/")[-1]: s for s in (ds[i] for i in range(3))}
    assert items["c.jpg"]["meta"]["load_failed"] and not items["a.jpg"]["meta"]["load_failed"]
    assert all(s["image"].shape == (3, 128, 128) for s in items.values())
    assert items["a.jpg"]["meta"]["orig_shape"] == (100, 150)
    auto = ImageFolderDataset(tmp_path / "sub", imgsz=128, auto=True)[0]
    assert auto["image"].shape == (3, 128, 64)  # 120x300 -> 51x128 -> padded to 64 wide
    batch = collate_detections([ds[0], ds[1]])
    assert batch["images"].shape == (2, 3, 128, 128) and batch["targets"].shape == (0, 6)
    with pytest.raises(NoUsableDataError):
        ImageFolderDataset(tmp_path / "nothing_here")


def test_image_folder_dataset_names_the_videos_it_does_not_read(tmp_path, caplog):
    """The config form of predict reads images: a video (not a grey "failed image") is one line pointing to
    ``predict --weights``; beside images, a counted warning."""
    (tmp_path / "v.mp4").write_bytes(b"not decoded: the suffix decides")
    for source in (tmp_path / "v.mp4", tmp_path):
        with pytest.raises(NoUsableDataError, match=r"no images found in .* \(1 video\(s\): .*predict --weights"):
            ImageFolderDataset(source)
    save_rgb(tmp_path / "a.jpg", solid_image(60, 80))
    with caplog.at_level("WARNING", logger="yolo12l"):
        ds = ImageFolderDataset(tmp_path)
    assert [f.name for f in ds.files] == ["a.jpg"]
    assert "1 video(s) not predicted" in caplog.text and "v.mp4" in caplog.text


def test_failures_in_workers_reach_the_main_report(synth_split, tmp_path):
    from yolo12l.data.sampler import EpochSampler

    recs = list(synth_split.records[:8])
    bad = tmp_path / "zero.jpg"
    bad.write_bytes(b"")
    recs[5] = type(recs[5])(str(bad), recs[5].image_id, recs[5].width, recs[5].height, recs[5].boxes, recs[5].labels)
    ds = DetectionDataset(recs, 64, AugmentConfig(mosaic=0.0), report=synth_split.report)
    dl = DataLoader(ds, batch_size=4, sampler=EpochSampler(ds, shuffle=False), num_workers=2,
                    persistent_workers=True, collate_fn=collate_detections)
    got = [m["index"] for b in dl for m in b["meta"]]
    assert len(got) == 8 and 5 not in got  # replaced inside a worker
    assert ds._failed[5] == 1  # flag written by the worker is visible here
    list(dl)  # next epoch: the sampler collects failures in the main process
    assert synth_split.report.files(IssueKind.LOAD_FAILED) == [str(bad)]


def test_exif_rotated_image_boxes_are_in_displayed_orientation(tmp_path):
    import json

    from PIL import Image

    shown = solid_image(120, 80, [(10, 60, 50, 110)], [(255, 0, 0)])  # displayed 80 wide x 120 high
    stored = np.ascontiguousarray(np.rot90(shown, k=1))  # stored rotated; EXIF 6 rotates it back clockwise
    ex = Image.Exif()
    ex[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=ex, quality=95)
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "r.jpg", "width": 80, "height": 120}],
                               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 60, 40, 50]}],
                               "categories": [{"id": 1, "name": "red"}]}))
    p = parse_coco(ann, tmp_path)
    assert p.report.files(IssueKind.EXIF_ROTATED) == [str(tmp_path / "r.jpg")] and not p.report.problems
    s = DetectionDataset(p.records, 64)[0]
    x1, y1, x2, y2 = s["boxes"][0].round().int().tolist()
    region = s["image"][:, y1 + 1:y2 - 1, x1 + 1:x2 - 1].float().mean((1, 2))
    assert region[0] > 200 and region[1] < 60 and region[2] < 60  # the red object is under its box
