"""DataModules: class info right after __init__, loaders, shuffling, predict, unusable data."""
import json

import pytest
import torch
from torch.utils.data import SequentialSampler

from datatest_utils import save_rgb, solid_image
from yolo12l.data import (CocoDataModule, NoUsableDataError, SyntheticDataModule, VOCDataModule, YoloDataModule,
                          targets_to_loss_dict)
from yolo12l.data.sampler import EpochSampler


def test_synthetic_datamodule(synth, tmp_path):
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=3, cache_dir=synth.root.parent.parent, imgsz=96,
                             batch_size=4, num_workers=0)
    assert dm.class_names == ["circle", "square", "triangle", "star", "cross"] and dm.num_classes == 5
    assert dm.label_to_category_id == [1, 2, 3, 4, 5] == dm.class_ids
    assert dm.synthetic_paths == synth  # same parameters -> same cached folder, not regenerated
    dm.setup("fit")
    tl, vl = dm.train_dataloader(), dm.val_dataloader()
    assert isinstance(tl.sampler, EpochSampler) and tl.sampler.shuffle
    assert isinstance(vl.sampler, SequentialSampler)
    assert not tl.persistent_workers and tl.num_workers == 0
    b = next(iter(tl))
    assert b["images"].shape == (4, 3, 96, 96) and b["images"].dtype == torch.uint8
    assert b["targets"].shape[1] == 6 and (b["targets"][:, 2:] <= 1).all() and (b["targets"][:, 2:] >= 0).all()
    assert set(targets_to_loss_dict(b["targets"])) == {"batch_idx", "cls", "bboxes"}
    v = next(iter(vl))  # rect validation (default): sorted by aspect ratio, one stride-aligned shape per batch
    ratios = [m["orig_shape"][0] / m["orig_shape"][1] for b in vl for m in b["meta"]]
    assert ratios == sorted(ratios)
    assert v["images"].shape[-1] % 32 == 0 and v["images"].shape[-2] % 32 == 0
    assert all(m["ratio"] is not None for m in v["meta"])
    square = SyntheticDataModule(num_train=16, num_val=8, seed=3, cache_dir=synth.root.parent.parent, imgsz=96,
                                 batch_size=4, num_workers=0, rect_val=False)
    v = next(iter(square.val_dataloader()))
    assert [m["image_id"] for m in v["meta"]] == [1, 2, 3, 4]  # square: val order is the file order
    assert v["images"].shape == (4, 3, 96, 96)
    assert "instances_train.json" in dm.summary()
    assert list((synth.root.parent.parent / "annotations").glob("coco-*.pt"))  # parsed once, cached


def test_coco_datamodule_on_coco128(datasets_dir, tmp_path):
    root = datasets_dir / "coco128"
    dm = CocoDataModule(root / "annotations" / "instances_train2017.json", root / "images" / "train2017",
                        root / "annotations" / "instances_val2017.json", root / "images" / "val2017",
                        imgsz=128, batch_size=2, num_workers=0, cache_dir=tmp_path)
    cats = json.loads((root / "annotations" / "instances_val2017.json").read_text())["categories"]
    assert dm.num_classes == 80 and dm.label_to_category_id == sorted(c["id"] for c in cats)
    assert dm.class_names[dm.label_to_category_id.index(90)] == "toothbrush"
    dm.setup("validate")
    b = next(iter(dm.val_dataloader()))  # rect: the two widest images, 128 px long side + half a stride of margin
    assert b["images"].shape == (2, 3, 96, 160)


def test_voc_and_yolo_class_info_without_parsing(datasets_dir, tmp_path):
    voc = VOCDataModule(datasets_dir / "voc128" / "VOCdevkit" / "VOC2007", cache_dir=tmp_path, num_workers=0)
    assert voc.num_classes == 20 and voc.label_to_category_id == list(range(20)) and voc._splits == {}
    custom = VOCDataModule(datasets_dir / "voc128" / "VOCdevkit" / "VOC2007", class_names=["person", "dog"],
                           cache_dir=tmp_path, num_workers=0, imgsz=64, batch_size=2)
    custom.setup("fit")
    assert custom.num_classes == 2 and len(custom.datasets["train"]) > 0
    yolo = YoloDataModule(datasets_dir / "coco128" / "coco128.yaml", cache_dir=tmp_path, num_workers=0)
    assert yolo.num_classes == 80 and yolo.class_names[0] == "person" and yolo._splits == {}
    vs = VOCDataModule(train_sets=[(str(datasets_dir / "voc128/VOCdevkit/VOC2007"), "train"),
                                   (str(datasets_dir / "voc128/VOCdevkit/VOC2007"), "val")],
                       val_sets=None, cache_dir=tmp_path, num_workers=0, imgsz=64)
    vs.setup("fit")
    assert len(vs.datasets["train"]) == 197 and "val" not in vs.datasets
    assert vs.val_dataloader() == []  # Lightning: no validation loop
    with pytest.raises(NoUsableDataError, match="VOCDataModule has no test split: set --data.init_args.test_split"):
        vs.test_dataloader()


def test_unusable_dataset_raises_naming_files(tmp_path):
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "gone.jpg"}, {"id": 2, "file_name": "z.jpg"}],
                               "annotations": [], "categories": [{"id": 1, "name": "x"}]}))
    (tmp_path / "z.jpg").write_bytes(b"")
    dm = CocoDataModule(ann, tmp_path, cache_dir=tmp_path, num_workers=0)
    assert dm.class_names == ["x"]
    with pytest.raises(NoUsableDataError, match=r"(?s)gone\.jpg.*z\.jpg"):
        dm.setup("fit")


def test_predict_dataloader(synth, tmp_path):
    save_rgb(tmp_path / "p" / "a.jpg", solid_image(70, 90))
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=3, cache_dir=synth.root.parent.parent, imgsz=64,
                             num_workers=0, batch_size=2, predict_source=tmp_path / "p")
    b = next(iter(dm.predict_dataloader()))
    assert b["images"].shape == (1, 3, 64, 64) and b["meta"][0]["orig_shape"] == (70, 90)


def test_imgsz_must_be_multiple_of_32(tmp_path):
    with pytest.raises(ValueError, match="multiple of 32"):
        SyntheticDataModule(imgsz=100, cache_dir=tmp_path)
    assert not (tmp_path / "synthetic").exists()  # checked before generating anything


def test_train_batches_carry_padded_loss_targets(tmp_path):
    """The train loader pads the loss targets in its workers (no host syncs for it in the training step)."""
    from yolo12l.data import SyntheticDataModule, targets_to_loss_dict
    from yolo12l.losses.targets import pad_targets

    dm = SyntheticDataModule(num_train=4, num_val=2, seed=0, imgsz=64, batch_size=4, num_workers=0,
                             pin_memory=False, cache_dir=tmp_path)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    lt = batch["loss_targets"]
    assert lt["imgsz"] == tuple(batch["images"].shape[-2:])
    ref = pad_targets(targets_to_loss_dict(batch["targets"]), 4, lt["imgsz"], dm.num_classes)
    for got, want in zip((lt["gt_labels"], lt["gt_bboxes"], lt["mask_gt"]), ref):
        assert torch.equal(got, want)
    assert int(lt["mask_gt"].sum()) == len(batch["targets"]) > 0
    assert "loss_targets" not in next(iter(dm.val_dataloader()))
