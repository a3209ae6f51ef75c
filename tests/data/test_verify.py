"""verify.py: long image checks are never silent (a progress line in logs, a tqdm bar on a terminal)."""
import logging

from datatest_utils import save_rgb, solid_image
from yolo12l.data import verify


def test_image_check_of_many_files_reports_progress(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(verify, "PROGRESS_MIN", 40)
    files = [save_rgb(tmp_path / f"{i}.jpg", solid_image(8, 8)) for i in range(40)]
    with caplog.at_level(logging.INFO, logger="yolo12l.data"):
        infos = verify.probe_all(files)
    assert [i.width for i in infos] == [8] * 40
    assert "checking images: 40 done in" in caplog.text


def test_progress_passes_items_through_and_logs_periodically(caplog):
    with caplog.at_level(logging.INFO, logger="yolo12l.data"):
        assert list(verify.progress(iter(range(5)), 5, "counting", every_s=0.0)) == list(range(5))
    assert "counting: 3/5 (60%" in caplog.text and "counting: 5 done in" in caplog.text
