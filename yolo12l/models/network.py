"""The detection network (a plain ``nn.Module``) and ``build_model``."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import yaml

from . import blocks  # noqa: F401  (registers the built-in blocks)
from .blocks.conv import Concat
from .blocks.detect import Detect
from .parser import parse_model

CFG_DIR = Path(__file__).resolve().parent / "cfg"
_SCALED_NAME = re.compile(r"^(.*?\d+)([nslmx])(.*)$")


class DetectionNetwork(nn.Module):
    """YOLO detection network built from a model YAML dict.

    ``forward(x)`` with x (B, 3, H, W), H and W multiples of the largest stride (32):
    train mode → list of per-level raw maps (B, 4·16 + nc, H/s, W/s); eval mode → (B, 4 + nc, A) xywh boxes in
    input pixels + class probabilities (anchors P3, P4, P5 row-major).
    """

    def __init__(self, cfg: dict[str, Any], ch: int = 3, scale: str | None = None, nc: int | None = None):
        super().__init__()
        cfg = copy.deepcopy(cfg)
        if nc is not None:
            cfg["nc"] = nc
        self.yaml = cfg
        self.model, self.save = parse_model(cfg, ch=ch, scale=scale)
        self.scale = scale if scale is not None else (next(iter(cfg["scales"])) if cfg.get("scales") else None)
        self.yaml["scale"] = self.scale
        self.nc = cfg["nc"]
        self.names = {i: str(i) for i in range(self.nc)}
        head = self.head
        if head is not None:
            head.stride = self._dry_run_strides(ch)
            head.bias_init()

    @property
    def head(self) -> Detect | None:
        """The detection head (last layer), if it is one."""
        last = self.model[-1]
        return last if isinstance(last, Detect) else None

    @property
    def stride(self) -> torch.Tensor:
        return self.head.stride if self.head is not None else torch.tensor([32.0])

    def _dry_run_strides(self, ch: int, s: int = 256) -> torch.Tensor:
        was_training = self.training
        self.train()  # train mode: the head returns its per-level maps
        for m in self.modules():  # keep BN statistics untouched by the dry run
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        with torch.no_grad():
            maps = self.forward(torch.zeros(1, ch, s, s))
        self.train(was_training)
        return torch.tensor([s / m.shape[-2] for m in maps], dtype=torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        outputs: list[torch.Tensor | None] = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x

    def fuse(self, channels_last: bool = True) -> DetectionNetwork:
        """Prepares the network for inference, in place; returns it in eval mode.

        Replaces every block that has a ``fuse()`` by the inference module it returns (timm's style; Conv, DWConv, the
        attention projections and ``pe``, the Halo / turbo convs become :class:`~.blocks.fused_conv.FusedConv`:
        BatchNorm folded into the convolution, SiLU in-place), so the training blocks keep one forward; lets each neck
        Concat hand its parts to the next block's first 1×1 convolution uncopied (``Concat.pass_parts``) and, with
        ``channels_last``, stores the 4-D weights channels-last (NHWC), which the oneDNN / cuDNN convolutions run
        faster; inputs need no conversion (the first convolution adopts the weights' layout). Outputs equal the unfused
        network's up to float rounding. A fused network has no BatchNorm left to train, so :meth:`train` refuses it:
        keep training checkpoints unfused (fuse a copy).
        """
        _swap_fused(self)
        for m, nxt in zip(self.model[:-1], self.model[1:]):  # concatenations read in place by the next layer
            if isinstance(m, Concat):
                m.pass_parts = m.i not in self.save and nxt.f == -1 and getattr(nxt, "takes_parts", False)
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.fused = True
        return self.eval()

    def train(self, mode: bool = True) -> DetectionNetwork:
        if mode and getattr(self, "fused", False):
            raise RuntimeError("this network is fused (BatchNorm folded into its convolutions) and cannot be "
                               "trained; build or load an unfused one")
        return super().train(mode)

    def layer_params(self) -> list[int]:
        """Parameter count of each layer, in order."""
        return [sum(p.numel() for p in m.parameters()) for m in self.model]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_model_yaml(cfg: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Reads a model YAML from a dict, a path, or a name shipped in the package (``yolo12s.yaml`` → ``yolo12.yaml``
    at scale ``s``). Returns the dict and the scale letter found in the name (or None)."""
    if isinstance(cfg, dict):
        return copy.deepcopy(cfg), None
    path = Path(cfg)
    name = path.name if path.suffix else path.name + ".yaml"
    candidates = [path, CFG_DIR / name]
    for p in candidates:
        if p.is_file():
            return yaml.safe_load(p.read_text()), None
    match = _SCALED_NAME.match(Path(name).stem)
    if match:
        base = match.group(1) + match.group(3) + ".yaml"
        for p in (path.with_name(base), CFG_DIR / base):
            if p.is_file():
                return yaml.safe_load(p.read_text()), match.group(2)
    shipped = ", ".join(sorted(p.name for p in CFG_DIR.glob("*.yaml")))
    raise FileNotFoundError(f"model YAML {str(cfg)!r} not found (shipped: {shipped}; add a scale letter, e.g. "
                            f"yolo12n.yaml)")


def build_model(cfg: str | Path | dict[str, Any] = "yolo12n.yaml", scale: str | None = None, nc: int | None = None,
                ch: int = 3) -> DetectionNetwork:
    """Builds a network from a model YAML name/path/dict; ``scale`` overrides the letter in the name."""
    d, name_scale = load_model_yaml(cfg)
    return DetectionNetwork(d, ch=ch, scale=scale or name_scale or d.get("scale"), nc=nc)


LAYER_ATTRS = ("i", "f", "type", "np")  # what the parser sets on each top-level layer (forward reads i and f)


def _swap_fused(module: nn.Module) -> None:
    """Replaces, depth first (a block's own blocks before it), every submodule of ``module`` that has a ``fuse()``
    by what it returns (the parser's layer attributes carried over)."""
    for name, child in list(module.named_children()):
        _swap_fused(child)
        fuse = getattr(child, "fuse", None)
        if not callable(fuse):
            continue
        fused = fuse()
        for key in LAYER_ATTRS:
            if hasattr(child, key):
                setattr(fused, key, getattr(child, key))
        setattr(module, name, fused)
