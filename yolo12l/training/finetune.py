"""Fine-tuning: what ``--model.weights`` transferred, ``freeze`` (Ultralytics' first-N / listed layers) and the
backbone view that Lightning's ``BackboneFinetuning`` callback freezes and unfreezes."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch.nn as nn

from ..errors import ConfigError
from ..interop.weights import LoadReport

log = logging.getLogger("yolo12l.training")
SMALL_TRANSFER = 0.9  # warn when less than this share of the network's tensors came from the weights file


def report_transfer(report: LoadReport, source: object, total: int) -> LoadReport:
    """Prints Ultralytics' "Transferred x/y items from …" (``total``: the network's state-dict entries) and warns
    when only a small part of the network was found in ``source`` (e.g. yolo12n weights into yolo12s)."""
    n = len(report.loaded)
    log.info("Transferred %d/%d items from %s", n, total, source)
    if total and n < SMALL_TRANSFER * total:
        log.warning("only %d of the network's %d tensors (%.0f%%) were found in %s with the same name and shape "
                    "(%d differ in shape, %d absent): the rest trains from scratch; are these weights of another "
                    "model or scale?", n, total, 100 * n / total, source, len(report.shape_mismatch),
                    len(report.missing))
    return report


def freeze_layers(net: nn.Module, freeze: int | Sequence[int] | None) -> list[int]:
    """Ultralytics' ``freeze``: ``N`` → layers ``0..N-1``, a list → those layer indices (rows of the model YAML).
    Their parameters get ``requires_grad=False``; returns the sorted layer indices (their BatchNorms are kept in
    eval mode by :class:`BatchNormFreeze`)."""
    if freeze is None or freeze == 0 or freeze == []:
        return []
    layers = net.model  # type: ignore[attr-defined]
    wanted = sorted(set(range(freeze) if isinstance(freeze, int) else freeze))
    if wanted[-1] >= len(layers):
        raise ConfigError(f"freeze {freeze!r}: the model has {len(layers)} layers (0..{len(layers) - 1})")
    frozen = {id(p) for i in wanted for p in layers[i].parameters()}
    if all(id(p) in frozen or not p.requires_grad for p in net.parameters()):
        raise ConfigError(f"freeze {freeze!r} freezes the whole model: nothing left to train (freeze fewer layers)")
    for i in wanted:
        for p in layers[i].parameters():
            p.requires_grad_(False)
    count = sum(p.numel() for i in wanted for p in layers[i].parameters())
    log.info("Freezing layers %s (%d parameters; their BatchNorm statistics stay fixed)", _ranges(wanted), count)
    return wanted


def _ranges(indices: Sequence[int]) -> str:
    out, start = [], None
    for j, i in enumerate(indices):
        if start is None:
            start = i
        if j + 1 == len(indices) or indices[j + 1] != i + 1:
            out.append(f"{start}" if start == i else f"{start}-{i}")
            start = None
    return ", ".join(out)


class BatchNormFreeze:
    """Keeps the BatchNorm layers of frozen layers in eval mode, so training does not update their statistics
    (Ultralytics puts them in eval mode each time the model goes to train mode)."""

    @staticmethod
    def apply(net: nn.Module, layers: Sequence[int]) -> None:
        for i in layers:
            for m in net.model[i].modules():  # type: ignore[attr-defined]
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()


def backbone_layers(net: nn.Module) -> nn.Sequential:
    """The layers of the model YAML's ``backbone`` rows, as a Sequential view (the modules are ``net``'s own)."""
    n = len(net.yaml.get("backbone", []))  # type: ignore[attr-defined]
    return nn.Sequential(*list(net.model)[:n])  # type: ignore[attr-defined]


def callback_frozen(net: nn.Module, frozen_layers: Sequence[int]) -> list[nn.Parameter]:
    """Parameters frozen by a callback (``BackboneFinetuning``), not by ``freeze`` (``frozen_layers``) nor the
    fixed DFL projection: they stay out of the optimizer's groups, the callback adds them itself later."""
    ours = {id(p) for i in frozen_layers for p in net.model[i].parameters()}  # type: ignore[attr-defined]
    return [p for n, p in net.named_parameters() if not p.requires_grad and id(p) not in ours and ".dfl" not in n]
