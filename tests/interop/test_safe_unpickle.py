"""Restricted unpickling: real Ultralytics checkpoint, malicious pickles refused, plain state dicts, stand-ins."""
from __future__ import annotations

import argparse
import builtins
import datetime
import functools
import io
import os
import pathlib
import pickle
import pickletools
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from yolo12l.interop import StandIn, UnsafeCheckpointError, read_ultralytics_checkpoint, safe_load
from yolo12l.interop.safe_unpickle import RestrictedUnpickler, stand_in_class
from yolo12l.interop.ultralytics_checkpoint import stand_in_state_dict

CKPT = "yolo12n_shapes_ultralytics.pt"


# ----------------------------------------------------------------------------------------------- real checkpoint
@pytest.fixture(scope="module")
def shapes_ckpt(reference_dir):
    return read_ultralytics_checkpoint(reference_dir / CKPT)


@pytest.fixture(scope="module")
def reference_state_dict(reference_dir):
    return torch.load(reference_dir / "yolo12n_parity.pt", map_location="cpu", weights_only=True)["state_dict"]


def test_real_checkpoint_keys_and_shapes_match_reference(shapes_ckpt, reference_state_dict):
    sd = shapes_ckpt.state_dict
    assert list(sd) == list(reference_state_dict)  # same keys, same (state_dict) order
    differing = {k for k in sd if sd[k].shape != reference_state_dict[k].shape}
    assert differing and all(k.startswith("model.21.cv3.") for k in differing)  # only class-count-dependent head
    for k in sd:
        assert sd[k].dtype == reference_state_dict[k].dtype, k
    for i in range(3):  # last conv of each class branch: nc outputs
        assert sd[f"model.21.cv3.{i}.2.weight"].shape[0] == 3
        assert sd[f"model.21.cv3.{i}.2.bias"].shape == (3,)


def test_real_checkpoint_values(shapes_ckpt, reference_state_dict):
    sd = shapes_ckpt.state_dict
    floats = [v for v in sd.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)
    assert all(torch.isfinite(v).all() for v in floats)
    assert {v.dtype for v in sd.values()} == {torch.float32, torch.int64}
    # DFL's fixed conv is arange(16): proves the fp16 storages were decoded, not just shaped.
    assert torch.equal(sd["model.21.dfl.conv.weight"].flatten(), torch.arange(16, dtype=torch.float32))
    assert torch.equal(sd["model.21.dfl.conv.weight"], reference_state_dict["model.21.dfl.conv.weight"])
    assert all((v > 0).all() for k, v in sd.items() if k.endswith("running_var"))
    # trained statistics, not BatchNorm's init (num_batches_tracked is 0: Ultralytics saves the EMA copy)
    assert all(v.abs().sum() > 0 for k, v in sd.items() if k.endswith("running_mean"))


def test_real_checkpoint_metadata(shapes_ckpt):
    c = shapes_ckpt
    assert c.source == "model"  # this file's ema is None
    assert c.nc == 3 and c.yaml["nc"] == 3
    assert c.names == {0: "circle", 1: "square", 2: "triangle"}
    assert "backbone" in c.yaml and "head" in c.yaml and c.yaml["scale"] == "n"
    assert c.stride == (8.0, 16.0, 32.0)
    assert c.version == "8.4.190"
    assert c.train_args["imgsz"] == 256
    assert "optimizer" not in c.meta and "model" not in c.meta and "ema" not in c.meta


def test_matches_torch_weights_only_loader(reference_dir):
    """torch's own weights-only unpickler, with our stand-ins allow-listed, decodes the same tensors bit for bit."""
    if not hasattr(torch.serialization, "safe_globals"):
        pytest.skip("torch < 2.5 has no safe_globals context manager")
    path = reference_dir / CKPT
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
        ops = pickletools.genops(zf.read(pkl))
        names = {tuple(arg.split(" ")) for op, arg, _ in ops if op.name == "GLOBAL"}
    modules = [(stand_in_class(m, n), f"{m}.{n}") for m, n in names if m.startswith(("ultralytics.", "torch.nn."))]
    with torch.serialization.safe_globals([*modules, set]):
        theirs = stand_in_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    ours = stand_in_state_dict(safe_load(path)["model"])
    assert list(theirs) == list(ours)
    for k in ours:
        assert ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]), k


# ------------------------------------------------------------------------------------------------- malicious
class _Evil:
    """Pickles to ``fn(*args)``: what an attacker's checkpoint does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker):
    cmd = f"touch {marker}"
    return {
        "os.system": _Evil(os.system, cmd),
        "builtins.eval": _Evil(builtins.eval, f"__import__('os').system({cmd!r})"),
        "subprocess.Popen": _Evil(subprocess.Popen, ["touch", str(marker)]),
        "functools.partial": _Evil(functools.partial(os.system, cmd)),
        "builtins.getattr": _Evil(getattr, "text", "upper"),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess.Popen", "functools.partial",
                                  "builtins.getattr"])
@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
def test_malicious_refused(tmp_path, kind, container):
    marker = tmp_path / "pwned"
    payload = {"epoch": 1, "model": _payloads(marker)[kind], "w": torch.ones(2)}
    path = tmp_path / "evil.pt"
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        payload.pop("w")
        path.write_bytes(pickle.dumps(payload, protocol=2))
    for reader in (safe_load, read_ultralytics_checkpoint):
        with pytest.raises(UnsafeCheckpointError, match="refusing global") as err:
            reader(path)
        assert not marker.exists()
    name = {"os.system": "system", "functools.partial": "functools.partial"}.get(kind, kind)
    assert name in str(err.value)  # os.system pickles as posix.system (or nt.system)
    assert isinstance(err.value, pickle.UnpicklingError)


def test_malicious_inside_stand_in_state(tmp_path, monkeypatch):
    """A payload hidden in the attributes of an ``ultralytics.*`` object is refused too."""
    marker = tmp_path / "pwned"
    fake = _fake_ultralytics_module(monkeypatch)
    model = fake.DetectionModel()
    model.hook = _Evil(os.system, f"touch {marker}")
    path = tmp_path / "evil.pt"
    torch.save({"model": model}, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_ultralytics_checkpoint(path)
    assert not marker.exists()


def _tensor_pickle(size, stride, offset, numel):
    """A pickle of one tensor rebuilt from a storage of ``numel`` floats (made with torch's own reduce format)."""

    class Storage:
        pass

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (storage, offset, size, stride, False, OrderedDict())

    storage = Storage()

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(Tensor())
    return buf.getvalue()


def test_tensor_views_are_bounds_checked():
    storage = lambda key, dtype, numel: torch.arange(numel, dtype=dtype)  # noqa: E731
    ok = RestrictedUnpickler(io.BytesIO(_tensor_pickle((2, 3), (3, 1), 2, 8)), storage).load()
    assert torch.equal(ok, torch.arange(2, 8, dtype=torch.float32).view(2, 3))
    with pytest.raises(UnsafeCheckpointError, match="exceeds storage"):
        RestrictedUnpickler(io.BytesIO(_tensor_pickle((2, 3), (3, 1), 3, 8)), storage).load()
    with pytest.raises(UnsafeCheckpointError, match="outside a torch archive"):
        RestrictedUnpickler(io.BytesIO(_tensor_pickle((2,), (1,), 0, 8))).load()


_BUILD_X = b"N}X\x01\x00\x00\x00xK\x01s\x86b."  # state (None, {"x": 1}), BUILD, STOP


@pytest.mark.parametrize("data, match", [
    (b"\x80\x02cpathlib\nPurePosixPath\n" + _BUILD_X, "set state on a"),  # would patch the class for everyone
    (b"\x80\x02ctorch\nHalfStorage\n" + _BUILD_X, "set state on a"),  # would re-type a shared marker
    (b"\x80\x02ctorch\nHalfStorage\n)R.", "not an allow-listed callable"),
    (b"\x80\x02\x82\x01.", "EXT"),
    (b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.", "os.system"),
])
def test_hand_written_opcodes_refused(data, match):
    with pytest.raises(UnsafeCheckpointError, match=match):
        safe_load_bytes(data)
    assert not hasattr(pathlib.PurePosixPath, "x")
    assert safe_load_bytes(b"\x80\x02ctorch\nHalfStorage\n.").dtype == torch.float16


def test_inert_metadata_types(tmp_path):
    meta = {"date": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "save_dir": pathlib.PurePosixPath("/runs/a"), "win": pathlib.PureWindowsPath("C:/runs/b"),
            "ns": types.SimpleNamespace(imgsz=640), "argv": argparse.Namespace(epochs=3), "blob": b"\x00\xff",
            "fitness": np.float64(0.25), "cls": np.int64(2), "slice": slice(1, 5), "set": frozenset({1})}
    path = tmp_path / "meta.pt"
    torch.save(meta, path)
    assert safe_load(path) == meta


def test_truncated_storage_refused(tmp_path):
    src, dst = tmp_path / "ok.pt", tmp_path / "short.pt"
    torch.save({"w": torch.ones(16)}, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:8] if info.filename.endswith("data/0") else data)
    with pytest.raises(UnsafeCheckpointError, match="bytes"):
        safe_load(dst)


# ------------------------------------------------------------------------------------------ plain state dicts
def _small_state_dict(nc=5):
    return OrderedDict([
        ("model.0.conv.weight", torch.randn(4, 3, 3, 3, dtype=torch.float16)),
        ("model.0.bn.running_var", torch.rand(4) + 0.5),
        ("model.0.bn.num_batches_tracked", torch.tensor(7)),
        ("model.21.cv3.0.2.weight", torch.randn(nc, 4, 1, 1)),
    ])


@pytest.mark.parametrize("layout", ["flat", "state_dict", "model", "legacy_format"])
def test_plain_state_dict_accepted(tmp_path, layout):
    sd = _small_state_dict()
    path = tmp_path / "weights.pt"
    obj = {"flat": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
           "legacy_format": sd}[layout]
    torch.save(obj, path, _use_new_zipfile_serialization=layout != "legacy_format")
    c = read_ultralytics_checkpoint(path)
    assert c.source == "state_dict" and list(c.state_dict) == list(sd)
    for k, v in sd.items():
        assert torch.equal(c.state_dict[k], v.float() if v.is_floating_point() else v)
    assert c.state_dict["model.0.conv.weight"].dtype == torch.float32
    assert c.state_dict["model.0.bn.num_batches_tracked"].dtype == torch.int64
    assert c.nc == 5 and c.yaml is None  # nc from the head's class conv
    if layout == "state_dict":
        assert c.meta == {"epoch": 3}


def test_shared_storage_views(tmp_path):
    base = torch.arange(12.0)
    path = tmp_path / "views.pt"
    torch.save({"a": base[2:8].view(2, 3), "b": base.view(3, 4).t(), "c": base}, path)
    got = safe_load(path)
    assert torch.equal(got["a"], base[2:8].view(2, 3)) and torch.equal(got["b"], base.view(3, 4).t())
    assert got["a"].untyped_storage().data_ptr() == got["c"].untyped_storage().data_ptr()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.ones(1)], path)
    with pytest.raises(ValueError, match="expected a checkpoint dict"):
        read_ultralytics_checkpoint(path)
    torch.save({"epoch": 1, "model": None, "ema": None}, path)
    with pytest.raises(ValueError, match="no model object or state dict"):
        read_ultralytics_checkpoint(path)


# ------------------------------------------------------------------------------------------------- stand-ins
def _fake_ultralytics_module(monkeypatch):
    """Registers a fake ``ultralytics.nn.tasks`` (no ultralytics code) so pickle can write objects under that name."""
    mod = types.ModuleType("ultralytics.nn.tasks")

    class DetectionModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
            self.register_buffer("kept", torch.full((2,), 5.0))
            self.yaml = {"nc": 2, "backbone": [], "head": []}
            self.names = ["cat", "dog"]
            self.stride = torch.tensor([8.0, 16.0])

    class Plain:  # not a Module: pickled via copyreg (protocols 0/1) or NEWOBJ (2+)
        def __init__(self):
            self.a, self.b = 1, [2, 3]

    for cls in (DetectionModel, Plain):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    for name in ("ultralytics", "ultralytics.nn"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return mod


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_stand_in_records_attributes(monkeypatch, protocol):
    fake = _fake_ultralytics_module(monkeypatch)
    obj = safe_load_bytes(pickle.dumps({"p": fake.Plain(), "s": {1, 2}}, protocol=protocol))
    plain = obj["p"]
    assert isinstance(plain, StandIn) and not isinstance(plain, fake.Plain)
    assert type(plain)._standin_qualname() == "ultralytics.nn.tasks.Plain"
    assert plain.a == 1 and plain.b == [2, 3] and obj["s"] == {1, 2}
    assert type(plain) is stand_in_class("ultralytics.nn.tasks", "Plain")  # one class per name


def safe_load_bytes(data: bytes):
    return RestrictedUnpickler(io.BytesIO(data)).load()


def test_stand_in_module_tree(tmp_path, monkeypatch):
    fake = _fake_ultralytics_module(monkeypatch)
    model = fake.DetectionModel().half()
    model.model[1].running_var.fill_(2.0)
    path = tmp_path / "last.pt"
    other = fake.DetectionModel()  # a training checkpoint holds both: Ultralytics loads the EMA
    torch.save({"model": other, "ema": model, "version": "x", "optimizer": {"state": {}}}, path)
    c = read_ultralytics_checkpoint(path)
    expected = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert list(c.state_dict) == list(expected) and "scratch" not in c.state_dict and "kept" in c.state_dict
    assert all(torch.equal(c.state_dict[k], v) for k, v in expected.items())
    assert c.source == "ema" and c.nc == 2 and c.names == {0: "cat", 1: "dog"} and c.stride == (8.0, 16.0)
    assert c.meta == {"version": "x"}
    raw = safe_load(path)["ema"]
    assert type(raw.__dict__["_modules"]["model"])._standin_qualname() == "torch.nn.modules.container.Sequential"
    assert raw.training is True and "scratch" in raw._non_persistent_buffers_set
