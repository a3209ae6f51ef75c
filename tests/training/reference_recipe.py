"""An independent model of Ultralytics 8.4.190's optimizer bookkeeping (written from reading
``ultralytics/engine/trainer.py``: ``_do_train``, ``_setup_train``, ``build_optimizer``, ``_setup_scheduler``), as a
stateful loop like the reference's — deliberately not the functional form of ``yolo12l.training.optim``."""
from __future__ import annotations

import math

import numpy as np


def reference_loop(epochs, nb, batch, nbs, lr0, lrf, cosine, warmup_epochs, warmup_bias_lr, warmup_momentum,
                   momentum, sgd, weight_decay, init_momentum=None):
    """The reference trainer's bookkeeping as a stateful loop: per optimizer step (global batch, {kind: (lr,
    momentum or None, weight decay)})."""
    accumulate = max(round(nbs / batch), 1)
    decay = weight_decay * batch * accumulate / nbs
    accumulate = min(accumulate, nb * epochs)
    acc0 = accumulate
    w = min(warmup_epochs, max(epochs - 1, 0))
    nw = round(w * nb) if w > 0 else 0
    if cosine:
        def lf(x):
            return max((1 - math.cos(x * math.pi / epochs)) / 2, 0) * (lrf - 1) + 1
    else:
        def lf(x):
            return max(1 - x / epochs, 0) * (1.0 - lrf) + lrf
    groups = {k: {"lr": lr0, "momentum": init_momentum if sgd else None,
                  "wd": decay if k == "weight" else 0.0} for k in ("weight", "norm", "bias")}
    last, out = -1, []
    for epoch in range(epochs):
        for g in groups.values():  # LambdaLR.step() at the epoch start
            g["lr"] = lr0 * lf(epoch)
        for i in range(nb):
            ni = i + nb * epoch
            if nw and ni <= nw:
                accumulate = max(1, int(np.interp(ni, [0, nw], [1, acc0]).round()))
                for k, g in groups.items():
                    g["lr"] = float(np.interp(ni, [0, nw], [warmup_bias_lr if k == "bias" else 0.0,
                                                            lr0 * lf(epoch)]))
                    if sgd:
                        g["momentum"] = float(np.interp(ni, [0, nw], [warmup_momentum, momentum]))
            if ni - last >= accumulate:
                out.append((ni, {k: (g["lr"], g["momentum"], g["wd"]) for k, g in groups.items()}))
                last = ni
    return out
