"""Mosaic windows (order.py): partners come from the sample's batch in the epoch order, about one decode per sample,
samples a function of (seed, epoch, index) whatever the workers, the fetch path or the number of ranks."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from yolo12l.data.coco import parse_coco
from yolo12l.data.collate import collate_detections
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.order import EpochWindows, epoch_order, window_spans
from yolo12l.data.sampler import EpochSampler
from yolo12l.data.transforms import AugmentConfig


@pytest.fixture
def records(synth):
    return parse_coco(synth.train_annotations, synth.train_images).records  # 16 images


def make(records, **kw):
    kw.setdefault("mosaic_window", 4)
    return DetectionDataset(records, 64, AugmentConfig(mixup=0.5), seed=7, **kw)


def loader(ds, workers, sampler=None):
    return DataLoader(ds, batch_size=ds.mosaic_window, sampler=sampler or EpochSampler(ds, seed=ds.seed),
                      num_workers=workers, collate_fn=collate_detections)


def test_windows_cut_the_epoch_order():
    w = EpochWindows(10, seed=3, window=4)
    order = epoch_order(10, 3, 2).numpy()
    assert sorted(order.tolist()) == list(range(10))
    assert window_spans(10, 4) == [(0, 4), (4, 8), (8, 10)]
    for p, i in enumerate(order):
        assert w(2, int(i)).tolist() == order[p // 4 * 4:p // 4 * 4 + 4].tolist()
    assert not np.array_equal(epoch_order(10, 3, 2).numpy(), epoch_order(10, 3, 3).numpy())


def test_partners_come_from_the_batch_and_each_image_is_decoded_once(records):
    ds = make(records)
    ds.set_epoch(1)
    batches = list(loader(ds, 0))
    assert len(batches) == 4
    stats = ds.load_stats()
    assert stats["samples"] == 16 and stats["decodes"] == 16 and stats["decodes_per_sample"] == 1.0
    windows = [set(ds._windows(1, m["index"]).tolist()) for m in batches[0]["meta"]]
    assert all(w == {m["index"] for m in batches[0]["meta"]} for w in windows)  # batch == window


def test_batches_identical_at_0_and_2_workers_and_equal_to_single_samples(records):
    runs = {}
    for workers in (0, 2):
        ds = make(records)
        ds.set_epoch(2)
        runs[workers] = list(loader(ds, workers))
        assert ds.load_stats()["decodes_per_sample"] == 1.0  # counted in the workers too
    for a, b in zip(*runs.values()):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["targets"], b["targets"])
    single = make(records)  # one sample at a time (no __getitems__, no buffer): same pixels, more decodes
    single.set_epoch(2)
    first = runs[0][0]
    for k, m in enumerate(first["meta"]):
        assert torch.equal(single[m["index"]]["image"], first["images"][k])
    assert single.load_stats()["decodes_per_sample"] > 1.5


def test_two_ranks_read_disjoint_windows_with_the_single_process_samples(records):
    one = make(records)
    one.set_epoch(0)
    ref = {m["index"]: b["images"][k] for b in loader(one, 0) for k, m in enumerate(b["meta"])}
    seen = []
    for rank in (0, 1):
        ds = make(records)
        ds.set_epoch(0)
        sampler = EpochSampler(ds, seed=ds.seed, rank=rank, num_replicas=2)
        assert len(sampler) == 8
        got = list(loader(ds, 0, sampler))
        assert ds.load_stats()["decodes_per_sample"] == 1.0
        for b in got:
            for k, m in enumerate(b["meta"]):
                seen.append(m["index"])
                assert torch.equal(b["images"][k], ref[m["index"]])
    assert sorted(seen) == list(range(16))


def test_uneven_windows_are_padded_and_the_short_window_comes_last(records):
    ds = make(records[:10], mosaic_window=4)  # windows of 4, 4, 2 over 3 ranks -> one each ... 2 ranks: pad
    spans = {r: EpochSampler(ds, seed=1, rank=r, num_replicas=2)._my_spans() for r in (0, 1)}
    assert spans[0] == [(0, 4), (8, 10)] and spans[1] == [(4, 8), (0, 4)]
    assert len(list(EpochSampler(ds, seed=1, rank=1, num_replicas=2))) == 8
