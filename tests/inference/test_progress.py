"""Progress of long predictions: lines every few seconds when not on a terminal."""
from __future__ import annotations

import io

from yolo12l.inference.progress import Progress


def test_lines_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, "slices", every_s=0.0, stream=stream)
    for _ in range(10):
        bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 9 and "\r" not in stream.getvalue()  # the last update (10/10) prints nothing
    assert lines[0].startswith("slices 1/10 (10%), ") and "/s, ETA " in lines[0]
    assert lines[-1].startswith("slices 9/10 (90%)")


def test_quiet_and_rate_limited():
    stream = io.StringIO()
    bar = Progress(5, "slices", every_s=3600, stream=stream)
    bar.update(4)
    off = Progress(5, "slices", every_s=0.0, stream=stream, enabled=False)
    off.update(3)
    assert stream.getvalue() == ""
