"""Loading initial weights into a network: matching shapes only, with a report of what was kept."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CheckpointError
from .checkpoint import read_network_state

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What :func:`load_matching` did: keys loaded, keys whose shape differs (left initialised), keys absent."""

    loaded: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"loaded {len(self.loaded)} tensors, kept {len(self.shape_mismatch)} re-initialised (shape differs), "
                f"{len(self.missing)} missing, {len(self.unexpected)} unused")


def load_matching(net: nn.Module, state_dict: dict[str, torch.Tensor]) -> LoadReport:
    """Copies every tensor whose key and shape match; others stay as initialised (e.g. a class head for another nc)."""
    own = net.state_dict()
    report = LoadReport()
    keep = {}
    for k, v in state_dict.items():
        if k not in own:
            report.unexpected.append(k)
        elif own[k].shape != v.shape:
            report.shape_mismatch.append(k)
        else:
            keep[k] = v.to(own[k].dtype)
            report.loaded.append(k)
    report.missing = [k for k in own if k not in state_dict]
    net.load_state_dict(keep, strict=False)
    return report


def load_weights(net: nn.Module, path: str | Path) -> LoadReport:
    """Loads initial weights from ``path`` into ``net`` (matching shapes), logging the report."""
    report = load_matching(net, read_network_state(path))
    log.debug("initial weights %s: %s", path, report)  # the caller reports it (training.finetune)
    if not report.loaded:
        raise CheckpointError(f"{path}: no tensor matches the network (is it a checkpoint of another architecture?)")
    return report
