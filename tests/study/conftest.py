"""Fixtures of the study tests."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from study_helpers import REPO, fit_overrides


@pytest.fixture
def make_study(tmp_path, datasets_dir, reference_dir):
    """Writes a study YAML in tmp_path; returns its path."""
    def make(variants: dict, seeds: list[int], epochs: int = 2, name: str = "study.yaml") -> Path:
        study = {"base": str(REPO / "configs" / "yolo-format.yaml"), "variants": variants, "seeds": seeds,
                 "overrides": fit_overrides(datasets_dir, reference_dir, epochs), "out": str(tmp_path / "out"),
                 "latency": {"imgsz": 64, "warmup": 1, "runs": 2}}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        return path
    return make
