"""The slicing options of the command line: parsed into a SliceConfig, rewritten for the LightningCLI, checked
with the option's name."""
from __future__ import annotations

import argparse

import pytest

from yolo12l.errors import ConfigError
from yolo12l.inference.slice_options import add_slice_arguments, lightning_slice_argv, slice_config
from yolo12l.inference.slicing import SliceConfig


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    add_slice_arguments(ap)
    return ap.parse_args(argv)


def test_defaults_and_values():
    assert slice_config(_parse([])) is None
    assert slice_config(_parse(["--slice", "320"])) == SliceConfig(320)
    cfg = slice_config(_parse(["--slice", "256", "--overlap", "0.3", "--full-image", "--merge", "nms",
                               "--match-metric", "iou", "--match-thres", "0.6"]))
    assert cfg == SliceConfig(256, 0.3, "nms", "iou", 0.6, True)


def test_lightning_argv_keeps_the_rest_in_order():
    argv = ["--config", "c.yaml", "--slice", "320", "--data.init_args.imgsz", "640", "--full-image"]
    assert lightning_slice_argv(argv) == [
        "--config", "c.yaml", "--data.init_args.imgsz", "640", "--model.slicing.slice_size=320",
        "--model.slicing.overlap=0.2", "--model.slicing.merge=nmm", "--model.slicing.match_metric=ios",
        "--model.slicing.match_thres=0.5", "--model.slicing.full_image=true"]
    assert lightning_slice_argv(["--config", "c.yaml"]) == ["--config", "c.yaml"]


@pytest.mark.parametrize("argv,message", [
    (["--slice", "31"], "invalid --slice 31: must be an integer >= 32"),
    (["--slice", "320", "--overlap", "-0.1"], "invalid --overlap -0.1: must be a number in [0, 1)"),
    (["--slice", "320", "--match-thres", "2"], "invalid --match-thres 2.0: must be a number in [0, 1]"),
    (["--slice", "320", "--merge", "wbf"], "invalid --merge 'wbf': must be one of nmm, nms"),
    (["--full-image"], "invalid --full-image: it sets sliced inference, which needs --slice S"),
    (["--slice", "big"], "invalid --slice: invalid int value: 'big'"),
])
def test_bad_values_name_the_option(argv, message):
    with pytest.raises(ConfigError) as info:
        lightning_slice_argv(argv)
    assert str(info.value).startswith(message), str(info.value)
