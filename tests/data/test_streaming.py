"""StreamingDataModule: samples are the folder loader's samples, partners come from the chunk (one decode per sample),
the loader state resumes mid-epoch exactly, close_mosaic follows the epochs, bad shard folders are refused
(in-process; the Lightning fits are in tests/training/test_streaming_fit.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yolo12l.data import DetectionDataset, StreamingDataModule, SyntheticDataModule, write_shards
from yolo12l.errors import ConfigError


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """12 train / 5 val synthetic images written as shards of 5 items (chunks 5, 5, 2)."""
    root = tmp_path_factory.mktemp("shards")
    dm = SyntheticDataModule(num_train=12, num_val=5, seed=1, cache_dir=root / "cache")
    for split in ("train", "val"):
        write_shards(dm, split, root / split, chunk_size=5)
    return root, dm


def _stream(root: Path, **kw) -> StreamingDataModule:
    kw = {"imgsz": 96, "batch_size": 3, "num_workers": 0, "seed": 7, **kw}
    return StreamingDataModule(str(root / "train"), val_dir=str(root / "val"), **kw)


def test_streaming_samples_are_the_folder_loaders_samples(shards):
    """Without mosaic the partner window plays no part: every training sample (epochs 0 and 1) and every evaluation
    sample equals the folder loader's sample of the same record, seed and epoch."""
    root, folder_dm = shards
    dm = _stream(root, mosaic=0.0)
    dm.setup("fit")
    stream = dm.datasets["train"].samples
    records = folder_dm.split("train").records
    folder = DetectionDataset(records, 96, dm.augment, seed=7)
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        folder.set_epoch(epoch)
        for i in range(len(records)):
            a, b = stream[i], folder[i]
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["boxes"], b["boxes"]), (epoch, i)
            assert a["meta"]["image_id"] == b["meta"]["image_id"]
    val = dm.datasets["val"].samples
    folder_val = DetectionDataset(folder_dm.split("val").records, 96, None)
    for i in range(len(folder_val)):
        a, b = val[i], folder_val[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["boxes"], b["boxes"])
        assert a["meta"]["ratio"] == b["meta"]["ratio"] and a["meta"]["pad"] == b["meta"]["pad"]


def _epoch(dm: StreamingDataModule) -> list[tuple[int, int]]:
    """(index, image checksum) of every sample of one pass over the train loader, in loader order."""
    return [(int(m["index"]), int(img.sum())) for b in dm.train_dataloader()
            for m, img in zip(b["meta"], b["images"])]


def test_mosaic_partners_from_the_chunk_one_decode_pure_function(shards):
    root, _ = shards
    dm = _stream(root)
    dm.setup("fit")
    got = _epoch(dm)
    assert sorted(i for i, _ in got) == list(range(12))
    ds = dm.datasets["train"].samples
    assert ds.load_stats()["decodes_per_sample"] == 1.0  # partners come from the chunk being read
    starts = [0, 5, 10]
    for i in range(12):
        c = max(s for s in starts if s <= i)
        assert set(ds._windows(0, i).tolist()) == set(range(c, min(c + 5, 12)))
    # the same samples with 2 workers (other order and batches), and from a fresh dataset index by index
    dm2 = _stream(root, num_workers=2)
    dm2.setup("fit")
    assert sorted(_epoch(dm2)) == sorted(got)
    dm3 = _stream(root)
    dm3.setup("fit")
    dm3.datasets["train"].samples.set_epoch(0)
    assert sorted(got) == sorted((i, int(dm3.datasets["train"].samples[i]["image"].sum())) for i in range(12))


@pytest.mark.parametrize("workers, threads", [(0, None), (2, None), (1, "2"), (2, "2")])
def test_mid_epoch_resume_continues_exactly(shards, monkeypatch, workers, threads):
    """Also with 2 sample threads per worker (``YOLO12L_WORKER_THREADS``), which read the batch's items ahead."""
    root, _ = shards
    if threads:
        monkeypatch.setenv("YOLO12L_WORKER_THREADS", threads)
    full = _stream(root, num_workers=workers)
    full.setup("fit")
    loader = full.train_dataloader()
    epochs = [[(int(m["index"]), int(img.sum())) for b in loader for m, img in zip(b["meta"], b["images"])]
              for _ in range(2)]
    # epoch 1, stopped after 2 batches, resumed in a new DataModule from its state_dict
    part = _stream(root, num_workers=workers)
    part.setup("fit")
    loader = part.train_dataloader()
    first = [(int(m["index"]), int(img.sum())) for b in loader for m, img in zip(b["meta"], b["images"])]
    assert first == epochs[0]
    it = iter(loader)
    head = [(int(m["index"]), int(img.sum())) for b in (next(it), next(it)) for m, img in zip(b["meta"], b["images"])]
    state = part.state_dict()
    del it
    resumed = _stream(root, num_workers=workers)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    tail = [(int(m["index"]), int(img.sum())) for b in resumed.train_dataloader()
            for m, img in zip(b["meta"], b["images"])]
    assert head + tail == epochs[1]
    assert epochs[0] != epochs[1]  # a new epoch: new order and augmentation


def test_bad_shard_folders_are_refused(shards, tmp_path):
    root, _ = shards
    with pytest.raises(ConfigError, match="does not exist"):
        StreamingDataModule(str(tmp_path / "nothing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no index.json"):
        _ = StreamingDataModule(str(empty)).num_classes
    bad = tmp_path / "pickled"
    bad.mkdir()
    for f in (root / "train").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    index = json.loads((bad / "index.json").read_text())
    index["config"]["data_format"][0] = "pickle"
    (bad / "index.json").write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="never pickled"):
        _ = StreamingDataModule(str(bad)).num_classes
    with pytest.raises(ConfigError, match="cache_images"):
        StreamingDataModule(str(root / "train"), cache_images="ram")


def test_close_mosaic_follows_the_loaders_epochs(shards):
    """LitData's epochs 1, 2 are our epochs 0, 1: with close_mosaic 1 of 2 epochs, the second pass has no mosaic, and
    its samples are the epoch-1 samples."""
    root, _ = shards
    dm = _stream(root, close_mosaic=1)
    dm.setup("fit")
    dm.set_epoch(0, total_epochs=2)
    loader = dm.train_dataloader()
    passes = [[(m, img) for b in loader for m, img in zip(b["meta"], b["images"])] for _ in range(2)]
    assert all(m["mosaic"] for m, _ in passes[0]) and not any(m["mosaic"] for m, _ in passes[1])
    ref = _stream(root, close_mosaic=1)
    ref.setup("fit")
    ref.set_epoch(1, total_epochs=2)
    samples = ref.datasets["train"].samples
    assert sorted(int(m["index"]) for m, _ in passes[1]) == list(range(12))
    for m, img in passes[1]:  # the epoch-1 sample of each index, made directly, is what the loader gave
        assert torch.equal(samples[int(m["index"])]["image"], img)


def test_streamed_training_samples_are_written_into_their_batch(shards, monkeypatch):
    """Each streamed training sample goes into the next row of its batch's tensor, so the collate copies no image;
    the batches equal those made sample by sample."""
    import yolo12l.data.collate as collate

    found = []
    real = collate.rows_of_one_tensor
    monkeypatch.setattr(collate, "rows_of_one_tensor", lambda images: found.append(real(images)) or found[-1])
    root, _ = shards
    dm = _stream(root)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert [len(b["meta"]) for b in batches] == [3, 3, 3, 3] and len(found) == 4
    assert all(rows is not None and rows.data_ptr() == b["images"].data_ptr() for rows, b in zip(found, batches))
    ref = _stream(root)
    ref.setup("fit")
    ref.datasets["train"].samples.set_epoch(0)
    for b in batches:
        for m, img in zip(b["meta"], b["images"]):
            assert torch.equal(img, ref.datasets["train"].samples[int(m["index"])]["image"])


@pytest.mark.parametrize("workers, batch", [(1, 3), (2, 3), (1, 8)])  # batch 8: a block spans 3 chunks of 5
def test_sample_threads_in_a_worker_give_the_same_stream(shards, monkeypatch, workers, batch):
    """A worker with 2 sample threads (``worker_threads=2``; 1 worker on 2 cores gets that budget) reads the
    rest of the batch ahead and makes its samples in the threads: every epoch's samples equal the main process's
    (the resume: ``test_mid_epoch_resume_continues_exactly``)."""
    root, _ = shards
    ref = _stream(root, batch_size=batch)
    ref.setup("fit")
    loader = ref.train_dataloader()
    want = [_epoch_of(loader) for _ in range(2)]
    monkeypatch.setenv("YOLO12L_WORKER_THREADS", "1")  # the DataModule's argument wins
    dm = _stream(root, num_workers=workers, worker_threads=2, batch_size=batch)
    dm.setup("fit")
    loader = dm.train_dataloader()
    got = [_epoch_of(loader) for _ in range(2)]
    assert [sorted(e) for e in got] == [sorted(e) for e in want]
    if workers == 1:  # one worker reads in LitData's order: the same stream, batch for batch, one decode each
        assert got == want
        assert dm.datasets["train"].load_stats()["decodes_per_sample"] == 1.0


def _epoch_of(loader) -> list[tuple[int, int]]:
    return [(int(m["index"]), int(img.sum())) for b in loader for m, img in zip(b["meta"], b["images"])]
