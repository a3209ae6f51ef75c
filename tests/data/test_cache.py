"""Annotation cache: hit on the second run, invalidated by source changes, issues replayed."""
import json
import os

import numpy as np

from yolo12l.data.cache import AnnotationCache, fingerprint
from yolo12l.data.coco import parse_coco


def test_hit_then_invalidate(bad_coco, tmp_path):
    ann, d, _ = bad_coco
    cache = AnnotationCache(tmp_path / "cache")
    calls = []

    def parse():
        calls.append(1)
        return parse_coco(ann, d)

    first = cache.get_or_parse("coco", [ann, d], {"v": 1}, parse)
    second = cache.get_or_parse("coco", [ann, d], {"v": 1}, parse)
    assert len(calls) == 1
    assert [r.file for r in first.records] == [r.file for r in second.records]
    for a, b in zip(first.records, second.records):
        assert (a.image_id, a.width, a.height) == (b.image_id, b.width, b.height)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)
    assert second.category_ids == first.category_ids and second.class_names == first.class_names
    assert second.report.counts() == first.report.counts()  # issues replayed from the cache
    assert second.report.summary(list_files=True) == first.report.summary(list_files=True)
    # other parameters -> other entry
    cache.get_or_parse("coco", [ann, d], {"v": 2}, parse)
    assert len(calls) == 2
    # editing the source invalidates
    data = json.loads(ann.read_text())
    data["annotations"] = data["annotations"][:1]
    ann.write_text(json.dumps(data))
    st = ann.stat()
    os.utime(ann, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = cache.get_or_parse("coco", [ann, d], {"v": 1}, parse)
    assert len(calls) == 3 and third.report.num_boxes == 1


def test_disabled_and_damaged_cache(bad_coco, tmp_path):
    ann, d, _ = bad_coco
    off = AnnotationCache(tmp_path / "c", enabled=False)
    off.get_or_parse("coco", [ann], {}, lambda: parse_coco(ann, d))
    assert not (tmp_path / "c").exists()
    cache = AnnotationCache(tmp_path / "c2")
    key = fingerprint([ann], x=1)
    cache.path("coco", key).parent.mkdir(parents=True)
    cache.path("coco", key).write_bytes(b"garbage")
    p = cache.get_or_parse("coco", [ann], {"x": 1}, lambda: parse_coco(ann, d))
    assert p.report.num_images == 6 and cache.load("coco", key) is not None  # rebuilt and rewritten
