"""The node's shared RAM image cache: filled once by the first of the local ranks, mapped by the others, the same
images as decoding, names removed from /dev/shm once every rank has it mapped."""
import hashlib
import multiprocessing as mp

import numpy as np
import pytest

from yolo12l.data import image_cache
from yolo12l.data.coco import parse_coco
from yolo12l.data.image_cache import ResizedImages, decode_resized
from yolo12l.data.shared_cache import SharedImageStore, shm_dir


@pytest.fixture
def split(synth):
    return parse_coco(synth.train_annotations, synth.train_images)


def _rank(files, sizes, q):
    calls = []
    real = image_cache.decode_resized

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    image_cache.decode_resized = counting
    images = ResizedImages(files, 96, sizes, cache="ram", local_ranks=2)
    assert images.fill()
    digest = hashlib.sha1(b"".join(images.get(i).tobytes() for i in range(len(files)))).hexdigest()
    q.put((len(calls), digest, images._store.data_path.name))


def test_two_ranks_share_one_fill(split, monkeypatch):
    monkeypatch.setenv("MASTER_PORT", "54321")  # a job of its own
    files = [r.file for r in split.records]
    sizes = [(r.width, r.height) for r in split.records]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(files, sizes, q)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(c for c, _, _ in got) == [0, len(files)]  # one rank decoded everything, the other nothing
    want = hashlib.sha1(b"".join(decode_resized(f, 96).tobytes() for f in files)).hexdigest()
    assert {d for _, d, _ in got} == {want}
    name = got[0][2]
    assert not list(shm_dir().glob(name.rsplit(".", 1)[0] + "*"))  # unlinked after the second rank mapped it


def test_failed_images_are_reported_to_every_rank(split, tmp_path):
    files = [r.file for r in split.records[:3]] + [str(tmp_path / "missing.jpg")]
    store = SharedImageStore(files, 64, [(64, 64)] * 4, directory=tmp_path)

    def decode(i):
        return decode_resized(files[i], 64) if i < 3 else None

    assert store.open_or_fill(decode, lambda n: True, threads=2, local_ranks=2)
    assert store.failed() == [3] and store.get(3) is None
    other = SharedImageStore(files, 64, [(64, 64)] * 4, directory=tmp_path)
    assert other.open_or_fill(lambda i: pytest.fail("decoded again"), lambda n: True, threads=2, local_ranks=2)
    assert other.failed() == [3] and np.array_equal(other.get(1), store.get(1))
    assert not list(tmp_path.glob("yolo12l-images-*"))
    assert not other.get(0).flags.writeable  # read-only views: no rank can change the others' images
