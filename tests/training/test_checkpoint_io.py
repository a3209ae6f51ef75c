"""AtomicCheckpointIO: a write that dies half-way leaves the previous checkpoint intact and no temporary file."""
from __future__ import annotations

import pytest
import torch

from yolo12l.training import AtomicCheckpointIO


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    assert io.load_checkpoint(path)["step"] == 1

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"partial bytes")  # then the process "crashes"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]
    assert io.load_checkpoint(path)["step"] == 1


def test_load_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.ckpt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(Exception, match="[Ww]eights only"):
        AtomicCheckpointIO().load_checkpoint(path)
