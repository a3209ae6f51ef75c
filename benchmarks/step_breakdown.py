"""Where a yolo12s training step's time goes, ours vs Ultralytics (CPU, 1 thread, 320 px, batch 8; not a test).

Forward, forward + backward of the network alone (a mean of its outputs as the loss), our loss + its backward, and
the whole core step of each side (``throughput.CoreStep``): medians of 3 rounds, the parts alternating.

    YOLO_OFFLINE=1 PYTHONPATH=$PWD .venv-ul/bin/python benchmarks/step_breakdown.py
"""
import sys, torch, statistics, time
sys.path.insert(0, __import__("os").path.dirname(__file__))
torch.set_num_threads(1)
from throughput import CoreStep, synthetic_batch, to_ul_batch
from yolo12l.data import with_loss_targets
b = synthetic_batch(8, 320, nc=80)
o = CoreStep("ours", "yolo12s.yaml", 80, "cpu", "32"); u = CoreStep("ul", "yolo12s.yaml", 80, "cpu", "32")
x = b["images"].float() / 255
lt = with_loss_targets(b, 80)["loss_targets"]
ub = to_ul_batch(b); ub["img"] = x
def t(f, n=3):
    ts = []
    for _ in range(n):
        a = time.perf_counter(); f(); ts.append(time.perf_counter() - a)
    return 1000 * statistics.median(ts)
def fwd_o(): return o.net(x)
def fwd_u(): return u.net(x)
def fb_o(): y = o.net(x); sum(v.float().mean() for v in y).backward()
def fb_u():
    y = u.net(x); y = list(y.values()) if isinstance(y, dict) else y
    sum(v.float().mean() for v in y if hasattr(v, "float")).backward()
yo = [v.detach().requires_grad_() for v in o.net(x)]
def loss_o(): l, _ = o.criterion(yo, lt); l.backward()
def step_o(): o(b)
def step_u(): u(b)
for f in [fwd_o, fwd_u, fwd_o, fwd_u]: f()
res = {}
for r in range(3):
    for name, f in [("fwd_o", fwd_o), ("fwd_u", fwd_u), ("fb_o", fb_o), ("fb_u", fb_u), ("loss_o", loss_o),
                    ("step_o", step_o), ("step_u", step_u)]:
        res.setdefault(name, []).append(t(f))
for k, v in res.items():
    print(f"{k:8s} {statistics.median(v):.0f} ms")
