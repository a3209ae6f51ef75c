"""json_stream.iter_object: the same values as ``json.load`` whatever the buffer size (values cut anywhere by a
refill, numbers included), arrays element by element, and errors at the line and column ``json`` names."""
import json
import random

import pytest

from yolo12l.data.json_stream import ARRAY, NotAnObject, iter_object


def _value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([1, -2.5e-3, 12345678901234567890, 1e300, 'a"b\\ü\n', "", None, True, False, 3.0])
    if r < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(4))}


def _read(path, chunk):
    got = {}
    for key, i, v in iter_object(path, stream=("images", "annotations"), chunk=chunk):
        if i is None:
            got[key] = [] if v is ARRAY else v
        else:
            assert i == len(got[key])
            got[key].append(v)
    return got


def test_values_equal_json_load_at_any_buffer_size(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "a.json"
    for _ in range(150):
        obj = {"info": _value(rng), "images": [_value(rng) for _ in range(rng.randrange(6))],
               "annotations": [_value(rng) for _ in range(rng.randrange(20))], "categories": _value(rng)}
        obj = dict(rng.sample(list(obj.items()), len(obj)))  # any key order
        path.write_text(json.dumps(obj, indent=rng.choice([None, 1]), ensure_ascii=rng.random() < 0.5),
                        encoding="utf-8")
        assert _read(path, rng.choice([1, 2, 3, 7, 64, 4096])) == obj


@pytest.mark.parametrize("text", ['{"images": [{"id": 1,, }]}', '{"a": 1} x', '{"a" 1}', '{"images": [1 2]}',
                                  '{"a": "unterminated', '{\n"a": 1,\n "b": [1,\n 2,, 3]}', '{"a": 1'])
def test_errors_name_jsons_line_and_column(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        list(iter_object(path, stream=("images", "b"), chunk=3))
    assert (got.value.lineno, got.value.colno) == (want.value.lineno, want.value.colno)


def test_a_top_level_that_is_not_an_object(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(NotAnObject):
        list(iter_object(tmp_path / "list.json"))


def test_a_byte_order_mark_is_skipped_and_garbage_is_malformed(tmp_path):
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"images": [1]}).encode())
    assert _read(tmp_path / "bom.json", 2) == {"images": [1]}
    for text in ("", "hello"):
        (tmp_path / "g.json").write_text(text)
        with pytest.raises(json.JSONDecodeError, match="Expecting value"):
            list(iter_object(tmp_path / "g.json"))
