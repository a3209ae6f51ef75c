"""Where a yolo12s training step's time goes, ours vs Ultralytics (CPU, 1 thread, 320 px, batch 8; not a test).

Forward, forward + backward of the network alone (a mean of its outputs as the loss), our loss + its backward, and
the whole core step of each side (``throughput.CoreStep``): medians of ``--rounds`` rounds of ``--reps`` calls, the
parts alternating. Needs ultralytics (the runner switches to ``$YOLO12L_UL_PYTHON``):

    python -m benchmarks step_breakdown [--model yolo12s.yaml] [--imgsz 320] [--batch 8] [--rounds 3]
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.throughput import CoreStep, synthetic_batch, to_ul_batch
from benchmarks.timing import median, timeit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="yolo12s.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="calls per part and round (their median is the round's)")
    a = ap.parse_args()
    from yolo12l.data import with_loss_targets

    torch.set_num_threads(1)
    b = synthetic_batch(a.batch, a.imgsz, nc=80)
    o = CoreStep("ours", a.model, 80, "cpu", "32")
    u = CoreStep("ul", a.model, 80, "cpu", "32")
    x = b["images"].float() / 255
    lt = with_loss_targets(b, 80)["loss_targets"]
    ub = to_ul_batch(b)
    ub["img"] = x

    def fwd_o():
        return o.net(x)

    def fwd_u():
        return u.net(x)

    def fb_o():
        y = o.net(x)
        sum(v.float().mean() for v in y).backward()

    def fb_u():
        y = u.net(x)
        y = list(y.values()) if isinstance(y, dict) else y
        sum(v.float().mean() for v in y if hasattr(v, "float")).backward()

    yo = [v.detach().requires_grad_() for v in o.net(x)]

    def loss_o():
        total, _ = o.criterion(yo, lt)
        total.backward()

    parts = {"fwd_o": fwd_o, "fwd_u": fwd_u, "fb_o": fb_o, "fb_u": fb_u, "loss_o": loss_o,
             "step_o": lambda: o(b), "step_u": lambda: u(b)}
    for f in [fwd_o, fwd_u, fwd_o, fwd_u]:
        f()
    res: dict[str, list[float]] = {}
    for _ in range(a.rounds):
        for name, f in parts.items():
            res.setdefault(name, []).append(1000 * median(timeit(f, a.reps).wall))
    for k, v in res.items():
        print(f"{k:8s} {median(v):.0f} ms")


if __name__ == "__main__":
    main()
