"""Studies over many fits: ``yolo12l compare`` (variants x seeds, statistics, tables, plots), ``yolo12l tune``
(Optuna search) and ``yolo12l benchmark`` (latency with its protocol). See docs/compare.md."""
from __future__ import annotations

from .config import StudyConfig, load_study_config
from .stats import mean_std, paired_t_test

__all__ = ["StudyConfig", "load_study_config", "mean_std", "paired_t_test"]
