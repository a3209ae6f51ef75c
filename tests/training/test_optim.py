"""Optimiser recipe: parameter groups, auto choice, warmup and decay schedules."""
from __future__ import annotations

import pytest
import torch

from yolo12l import build_model
from yolo12l.training.optim import (YOLOScheduler, build_optimizer, lr_factor, nominal_accumulation, param_groups,
                                    resolve_optimizer, scaled_weight_decay)


@pytest.fixture(scope="module")
def net():
    return build_model("yolo12n.yaml", nc=3)


def test_three_param_groups_cover_every_trainable_parameter_once(net):
    groups = param_groups(net, 5e-4)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in net.parameters() if p.requires_grad)
    decay, norm, bias = groups
    assert decay["weight_decay"] == 5e-4 and norm["weight_decay"] == 0 and bias["weight_decay"] == 0
    assert all(p.ndim == 4 for p in decay["params"])  # conv kernels only
    bn_weights = {id(m.weight) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert bn_weights <= {id(p) for p in norm["params"]}
    assert all(p.ndim == 1 for p in bias["params"])


def test_auto_optimizer_rule():
    assert resolve_optimizer("auto", 0.01, 0.937, nc=3, iterations=1000) == ("AdamW", round(0.002 * 5 / 7, 6), 0.9)
    assert resolve_optimizer("auto", 0.01, 0.937, nc=80, iterations=20000) == ("SGD", 0.01, 0.9)
    assert resolve_optimizer("SGD", 0.02, 0.9, nc=80, iterations=5) == ("SGD", 0.02, 0.9)


def test_nominal_batch_and_weight_decay_scaling():
    assert nominal_accumulation(16) == 4 and nominal_accumulation(128) == 1 and nominal_accumulation(24) == 3
    assert scaled_weight_decay(5e-4, 16, 4) == pytest.approx(5e-4)
    assert scaled_weight_decay(5e-4, 8, 1) == pytest.approx(5e-4 / 8)


def test_lr_factor_linear_and_cosine():
    assert lr_factor(0, 100, 0.01) == 1.0 and lr_factor(100, 100, 0.01) == pytest.approx(0.01)
    assert lr_factor(50, 100, 0.01) == pytest.approx(0.505)
    assert lr_factor(50, 100, 0.01, "cosine") == pytest.approx(0.505)
    assert lr_factor(25, 100, 0.01, "cosine") > lr_factor(25, 100, 0.01)


def test_warmup_then_decay(net):
    opt = build_optimizer(net, "SGD", lr=0.01, momentum=0.937, weight_decay=5e-4)
    sched = YOLOScheduler(opt, epochs=10, steps_per_epoch=20, lrf=0.01, warmup_epochs=3, warmup_min_iters=100)
    assert sched.warmup_iters == 100  # max(3 epochs × 20, 100)
    lrs = {g["kind"]: g["lr"] for g in opt.param_groups}
    assert lrs["bias"] == pytest.approx(0.1) and lrs["weight"] == 0.0
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.8)
    history = []
    for _ in range(200):
        opt.step()
        sched.step()
        history.append({g["kind"]: g["lr"] for g in opt.param_groups})
    w = [h["weight"] for h in history]
    b = [h["bias"] for h in history]
    assert w[0] < w[10] < w[50] < w[98]  # weights warm up from 0 (towards the decaying target)
    assert w[0] == pytest.approx(0.01 * 1 / 100)
    assert b[0] > b[60]  # bias lr comes down from 0.1
    after = history[100]  # iteration 101 = epoch 5: linear decay factor
    assert after["weight"] == pytest.approx(0.01 * lr_factor(5, 10, 0.01))
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.937)


def test_scheduler_state_round_trip(net):
    opt = build_optimizer(net, "AdamW", lr=1e-3, momentum=0.9, weight_decay=5e-4)
    sched = YOLOScheduler(opt, epochs=5, steps_per_epoch=10)
    for _ in range(37):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = build_optimizer(net, "AdamW", lr=1e-3, momentum=0.9, weight_decay=5e-4)
    sched2 = YOLOScheduler(opt2, epochs=5, steps_per_epoch=10)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]
    assert opt2.param_groups[0]["betas"][0] == opt.param_groups[0]["betas"][0]
