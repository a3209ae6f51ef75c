"""Batch layout (collate.py): training samples written straight into their batch are passed on without a copy."""
import torch
from torch.utils.data import DataLoader

from yolo12l.data.coco import parse_coco
from yolo12l.data.collate import collate_detections, rows_of_one_tensor
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.sampler import EpochSampler
from yolo12l.data.transforms import AugmentConfig


def test_rows_of_one_tensor_only_for_its_rows_in_order():
    base = torch.arange(4 * 3 * 2 * 2, dtype=torch.uint8).reshape(4, 3, 2, 2)
    whole = rows_of_one_tensor([base[k] for k in range(4)])
    assert whole is not None and whole.data_ptr() == base.data_ptr() and torch.equal(whole, base)
    tail = rows_of_one_tensor([base[2], base[3]])
    assert tail is not None and torch.equal(tail, base[2:])
    assert rows_of_one_tensor([base[1], base[0]]) is None  # out of order
    assert rows_of_one_tensor([base[0], base[2]]) is None  # a gap
    assert rows_of_one_tensor([base[0].clone(), base[1].clone()]) is None  # separate tensors
    assert rows_of_one_tensor([base[0, :, :1]]) is None  # not contiguous


def test_training_batch_is_the_tensor_its_samples_were_written_into(synth):
    records = parse_coco(synth.train_annotations, synth.train_images).records
    ds = DetectionDataset(records, 64, AugmentConfig(), seed=5, mosaic_window=4)
    ds.set_epoch(1)
    indices = list(EpochSampler(ds, seed=ds.seed))[:4]
    samples = ds.__getitems__(indices)
    batch = collate_detections(samples)
    assert batch["images"].shape == (4, 3, 64, 64)
    assert batch["images"].data_ptr() == samples[0]["image"].data_ptr()  # no copy
    single = DetectionDataset(records, 64, AugmentConfig(), seed=5, mosaic_window=4)
    single.set_epoch(1)
    for k, i in enumerate(indices):  # each sample on its own (own tensor, stacked by copy): the same pixels
        assert torch.equal(single[i]["image"], batch["images"][k])
    # from a worker the batch arrives in shared memory, equal to the in-process one
    loader = DataLoader(ds, batch_size=4, sampler=EpochSampler(ds, seed=ds.seed), num_workers=1,
                        collate_fn=collate_detections)
    assert torch.equal(next(iter(loader))["images"], batch["images"])
