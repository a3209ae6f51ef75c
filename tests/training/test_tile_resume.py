"""Through the console: ``fit`` on tiles with mosaic, stopped by Ctrl+C after epoch 0 and resumed with
``--ckpt_path last``, ends with the weights, EMA, optimizer and counters of the uninterrupted run (tiles are drawn
from each sample's (seed, epoch, index) generator, so the resumed epoch sees the same tiles)."""
from __future__ import annotations

import signal

import pytest
import torch

from run_helpers import REPO, assert_same_training_state
from test_run_folder import run

QUICKSTART = REPO / "configs" / "quickstart.yaml"


@pytest.fixture
def _sigint_restored():
    """Lightning ignores SIGINT after handling a KeyboardInterrupt (so a second Ctrl+C cannot break its
    shutdown); give pytest its handler back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def _fit(cache, root, *extra: str) -> list[str]:
    """yolo12n, 2 epochs of 2 batches of 2 tiles of 96 px from 4 images of 320 px, mosaic in both epochs, one
    optimizer step per batch."""
    return ["fit", "--config", str(QUICKSTART), "--data", "TinyObjectsDataModule",
            "--data.init_args.num_train", "4", "--data.init_args.num_val", "1",
            "--data.init_args.image_size", "[320, 320]", "--data.init_args.object_size", "[8, 24]",
            "--data.init_args.num_objects", "[8, 16]", "--data.init_args.imgsz", "96",
            "--data.init_args.batch_size", "2", "--data.init_args.num_workers", "0",
            "--data.init_args.persistent_workers", "false", "--data.init_args.cache_dir", str(cache),
            "--data.init_args.tiles", "true", "--data.init_args.mosaic", "1.0", "--data.init_args.close_mosaic", "0",
            "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(root),
            "--model.optim.nominal_batch_size", "2", "--model.evaluation.save_plots", "false",
            "--model.summary_imgsz", "0", *extra]


def test_tile_fit_interrupted_and_resumed_equals_uninterrupted(tmp_path, _sigint_restored):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a", tmp_path / "b"
    run(_fit(cache, a))
    last_a = a / "logs" / "version_0" / "checkpoints" / "last.ckpt"

    out, _ = run(_fit(cache, b, "--trainer.callbacks+=interrupt.CtrlCAtEpoch"), status=1)  # Lightning: exit 1
    assert "epoch   1/2" in out and "epoch   2/2" not in out
    last_b = b / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    stopped = torch.load(last_b, map_location="cpu", weights_only=True)
    assert (stopped["epoch"], stopped["global_step"]) == (0, 2)

    out, _ = run(_fit(cache, b, "--ckpt_path", "last"))
    assert f"--ckpt_path last: resuming from {last_b}" in out
    final_a = torch.load(last_a, map_location="cpu", weights_only=True)
    final_b = torch.load(last_b, map_location="cpu", weights_only=True)
    assert (final_a["epoch"], final_a["global_step"]) == (final_b["epoch"], final_b["global_step"]) == (1, 4)
    assert_same_training_state(final_a, final_b)
