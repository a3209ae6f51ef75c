"""Optimiser recipe: parameter groups, the auto choice, and the per-batch schedule against an independent model of
Ultralytics 8.4.190's trainer loop (written from reading ``ultralytics/engine/trainer.py``) for many configurations.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn

from reference_recipe import reference_loop
from yolo12l import build_model
from yolo12l.training.config import OptimConfig
from yolo12l.training.optim import (StepSchedule, auto_iterations, build_optimizer, lr_factor, nominal_accumulation,
                                    param_groups, resolve_optimizer, scaled_weight_decay)


@pytest.fixture(scope="module")
def net():
    return build_model("yolo12n.yaml", nc=3)


def test_param_groups_follow_the_reference_rules(net):
    groups = param_groups(net, 5e-4)
    assert [g["kind"] for g in groups] == ["weight", "norm", "bias"]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))  # frozen DFL projection included, as upstream
    decay, norm, bias = groups
    assert decay["weight_decay"] == 5e-4 and norm["weight_decay"] == 0 and bias["weight_decay"] == 0
    assert [len(g["params"]) for g in groups] == [120, 113, 119]  # schedule_auto.json: weight, bn, bias
    bn_weights = {id(m.weight) for m in net.modules() if isinstance(m, nn.BatchNorm2d)}
    assert bn_weights == {id(p) for p in norm["params"]}


def test_one_dimensional_parameters_are_decayed():
    """Layer-scale gammas and other 1-D parameters outside norm layers go to the decayed group (as upstream)."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.ln = nn.LayerNorm(4)
            self.gamma = nn.Parameter(torch.ones(4))
            self.logit_scale = nn.Parameter(torch.zeros(()))

    m = Block()
    decay, norm, bias = (set(map(id, g["params"])) for g in param_groups(m, 1e-4))
    assert decay == {id(m.conv.weight), id(m.gamma)}
    assert norm == {id(m.ln.weight), id(m.logit_scale)}
    assert bias == {id(m.conv.bias), id(m.ln.bias)}


def test_auto_optimizer_rule():
    assert resolve_optimizer("auto", 0.01, 0.937, nc=3, iterations=1000) == ("AdamW", round(0.002 * 5 / 7, 6), 0.9)
    assert resolve_optimizer("auto", 0.01, 0.937, nc=80, iterations=20000) == ("SGD", 0.01, 0.9)
    assert resolve_optimizer("SGD", 0.02, 0.9, nc=80, iterations=5) == ("SGD", 0.02, 0.9)
    assert auto_iterations(64, 8, 6) == 6 and auto_iterations(118287, 16, 300) == 1849 * 300


def test_nominal_batch_and_weight_decay_scaling():
    assert nominal_accumulation(16) == 4 and nominal_accumulation(128) == 1 and nominal_accumulation(24) == 3
    assert scaled_weight_decay(5e-4, 16, 4) == pytest.approx(5e-4)
    assert scaled_weight_decay(5e-4, 8, 1) == pytest.approx(5e-4 / 8)


def test_lr_factor_linear_and_cosine():
    assert lr_factor(0, 100, 0.01) == 1.0 and lr_factor(100, 100, 0.01) == pytest.approx(0.01)
    assert lr_factor(50, 100, 0.01) == pytest.approx(0.505)
    assert lr_factor(50, 100, 0.01, "cosine") == pytest.approx(0.505)
    assert lr_factor(25, 100, 0.01, "cosine") > lr_factor(25, 100, 0.01)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(1, 10, 0.01, "step")


def our_loop(net, epochs, nb, batch, nbs, lr0, lrf, cosine, warmup_epochs, warmup_bias_lr, warmup_momentum,
             momentum, sgd, weight_decay, init_momentum=None):
    """What YOLODetector.training_step does with the optimizer, batch by batch (without the network)."""
    s = StepSchedule(epochs=epochs, batches_per_epoch=nb, batch_size=batch, recipe=OptimConfig(
        nominal_batch_size=nbs, lrf=lrf, schedule="cosine" if cosine else "linear", warmup_epochs=warmup_epochs,
        warmup_bias_lr=warmup_bias_lr, warmup_momentum=warmup_momentum, momentum=momentum))
    opt = build_optimizer(net, "SGD" if sgd else "AdamW", lr0, init_momentum if sgd else 0.9,
                          s.weight_decay(weight_decay))
    last, out = -1, []
    for ni in range(epochs * nb):
        s.apply(opt, ni, ni // nb)
        if s.should_step(ni, last):
            out.append((ni, {g["kind"]: (g["lr"], g.get("momentum"), g["weight_decay"]) for g in opt.param_groups}))
            last = ni
    assert [ni for ni, _ in out] == s.step_batches()
    return out


CONFIGS = [
    # epochs, nb, batch, nbs, warmup_epochs, cosine, sgd
    *itertools.product([1, 2, 6], [1, 3, 8], [8, 16], [64], [3.0], [False], [False]),
    *itertools.product([5, 30], [17], [1, 24, 100], [64, 50], [0.0, 0.4, 3.0], [False, True], [True, False]),
    (300, 5, 16, 64, 3.0, False, True),  # the paper's recipe shape (SGD, 300 epochs)
    (4, 8, 8, 64, 10.0, True, True),  # warmup longer than the run: capped to epochs - 1
]


@pytest.mark.parametrize("epochs, nb, batch, nbs, warmup, cosine, sgd", CONFIGS)
def test_schedule_equals_reference_loop(net, epochs, nb, batch, nbs, warmup, cosine, sgd):
    kw = dict(epochs=epochs, nb=nb, batch=batch, nbs=nbs, lr0=0.01 if sgd else 0.001429, lrf=0.01, cosine=cosine,
              warmup_epochs=warmup, warmup_bias_lr=0.1 if sgd else 0.0, warmup_momentum=0.8, momentum=0.937,
              sgd=sgd, weight_decay=5e-4, init_momentum=0.9 if sgd else None)
    ref, ours = reference_loop(**kw), our_loop(net, **kw)
    assert [ni for ni, _ in ours] == [ni for ni, _ in ref]
    for (ni, got), (_, want) in zip(ours, ref):
        for kind in want:
            for name, g, w in zip(("lr", "momentum", "weight_decay"), got[kind], want[kind]):
                assert g == pytest.approx(w, rel=1e-12, abs=1e-18) if w is not None else g is None, \
                    (ni, kind, name)


def test_warmup_ramp_shape():
    s = StepSchedule(epochs=6, batches_per_epoch=8, batch_size=8)  # schedule_auto.json's run
    assert s.warmup_iters == 24 and s.accumulate_target == 8
    assert s.step_batches() == [0, 1, 3, 5, 8, 12, 18, 26, 34, 42]
    assert StepSchedule(epochs=1, batches_per_epoch=8, batch_size=8).warmup_iters == 0  # leaves the last epoch
    assert StepSchedule(epochs=10, batches_per_epoch=8, batch_size=8,
                        recipe=OptimConfig(warmup_min_iters=100)).warmup_iters == 100
    with pytest.raises(ValueError):
        StepSchedule(epochs=0, batches_per_epoch=8, batch_size=8)
