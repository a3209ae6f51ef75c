"""What the YOLOv12 paper-repo parity files can and cannot verify (not a test).

The files hold random weights and random BatchNorm statistics. This script loads each with
``load_ultralytics_checkpoint``, applies near-miss changes to the weights or the computation, and prints how far the
output then is from the reference ``output``: max box error (px), max and mean relative probability error. A change
the data can detect must move these well beyond the correct network's row and the float64 row (rounding noise).

    python -m benchmarks paper_parity_sensitivity [--shared $YOLO12L_SHARED]
        [--out benchmarks/results/paper_parity_sensitivity-default.json]
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from collections.abc import Callable

import torch

from benchmarks.common import result_path, shared_dir, write_json
from yolo12l import load_ultralytics_checkpoint

Change = Callable[[torch.nn.Module, dict], None]


def _set(net: torch.nn.Module, fn: Callable[[str, torch.Tensor], torch.Tensor | None]) -> None:
    sd = net.state_dict()
    for k, v in sd.items():
        new = fn(k, v)
        if new is not None:
            v.copy_(new)


def unfolded_pe_bias(net, data):
    """v1.0 loaded without folding its pe biases into BN."""
    for k, v in data["state_dict"].items():
        if k.endswith("attn.pe.conv.bias"):
            net.state_dict()[k[: -len("conv.bias")] + "bn.running_mean"].add_(v)


def qk_interleaved_per_head(net, data):
    """turbo qk channels read as per-head [q_h, k_h] instead of [all q, all k]."""
    def fn(k, v):
        if ".attn.qk." in k and v.ndim > 0:
            heads = v.shape[0] // 64
            return v.view(2, heads, 32, *v.shape[1:]).transpose(0, 1).reshape(v.shape)
    _set(net, fn)


def q_k_swapped(net, data):
    def fn(k, v):
        if ".attn.qk." in k and v.ndim > 0:
            return torch.cat(v.chunk(2, 0)[::-1], 0)
    _set(net, fn)


def one_strip_in_layer6(net, data):
    """layer 6 attention over the whole map (area 1) instead of 4 strips."""
    for m in net.model[6].modules():
        if hasattr(m, "area") and hasattr(m, "proj"):
            m.area = 1


def zero_pe(net, data):
    _set(net, lambda k, v: torch.zeros_like(v) if k.endswith("attn.pe.conv.weight") else None)


def zero_attention_proj(net, data):
    _set(net, lambda k, v: torch.zeros_like(v) if k.endswith("attn.proj.conv.weight") else None)


def layer6_weights_10pct(net, data):
    g = torch.Generator().manual_seed(0)
    _set(net, lambda k, v: v * (1 + 0.1 * torch.randn(v.shape, generator=g))
         if k.startswith("model.6.") and k.endswith("conv.weight") else None)


def layer20_weights_10pct(net, data):
    g = torch.Generator().manual_seed(0)
    _set(net, lambda k, v: v * (1 + 0.1 * torch.randn(v.shape, generator=g))
         if k.startswith("model.20.") and k.endswith("conv.weight") else None)


CHANGES: dict[str, list[Change]] = {
    "v1": [unfolded_pe_bias, zero_pe, zero_attention_proj, layer6_weights_10pct, layer20_weights_10pct],
    "turbo": [qk_interleaved_per_head, q_k_swapped, one_strip_in_layer6, zero_pe, zero_attention_proj,
              layer6_weights_10pct, layer20_weights_10pct],
}


def errors(y: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    rel = (y[:, 4:] - ref[:, 4:]).abs() / ref[:, 4:]
    return {"box_px_max": (y[:, :4] - ref[:, :4]).abs().max().item(), "prob_rel_max": rel.max().item(),
            "prob_rel_mean": rel.mean().item()}


def attention_logit_std(net: torch.nn.Module, x: torch.Tensor) -> list[float]:
    out = []

    def hook(mod, inp, _):
        q, k, _, _ = mod.split_qkv(inp[0])
        out.append(((q @ k.transpose(-1, -2)) * mod.head_dim**-0.5).std().item())

    hooks = [m.register_forward_hook(hook) for n, m in net.named_modules() if n.endswith(".attn")]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(shared_dir()))
    ap.add_argument("--out", default=str(result_path("paper_parity_sensitivity")))
    args = ap.parse_args()
    record: dict = {"torch": torch.__version__, "variants": {}}
    print(f"{'variant':7} {'network':26} {'box px max':>11} {'prob rel max':>13} {'prob rel mean':>14}")
    for variant, changes in CHANGES.items():
        path = Path(args.shared) / "reference" / "yolov12_paper" / f"yolov12n_{variant}_parity.pt"
        data = torch.load(path, weights_only=True)
        net, _ = load_ultralytics_checkpoint(path)
        x, ref = data["input"], data["output"]
        rows = {}
        with torch.no_grad():
            rows["as loaded"] = errors(net(x), ref)
            rows["as loaded, float64"] = errors(copy.deepcopy(net).double()(x.double()).float(), ref)
            rows["input mirrored"] = errors(net(x.flip(-1)), ref)
            for change in changes:
                changed = copy.deepcopy(net)
                change(changed, data)
                rows[change.__name__] = errors(changed(x), ref)
        for name, r in rows.items():
            print(f"{variant:7} {name:26} {r['box_px_max']:11.2e} {r['prob_rel_max']:13.2e} {r['prob_rel_mean']:14.2e}")
        logit_std = attention_logit_std(net, x)
        print(f"{variant:7} attention logit std per block: {', '.join(f'{s:.3f}' for s in logit_std)}")
        record["variants"][variant] = {"rows": rows, "attention_logit_std": logit_std}
    write_json(record, args.out)


if __name__ == "__main__":
    main()
