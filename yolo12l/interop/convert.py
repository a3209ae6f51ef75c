"""Ultralytics state-dict keys → yolo12l keys.

yolo12l keeps the reference's module tree (``model.{i}.…``), so the mapping is the identity on names; this function
drops entries that are not weights of the network (e.g. a ``model.`` prefix from wrapping objects) and casts to
float32 (Ultralytics checkpoints are saved in fp16).
"""
from __future__ import annotations

import torch

_PREFIXES = ("module.", "_orig_mod.", "net.")


def convert_ultralytics_state_dict(state_dict: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32
                                   ) -> dict[str, torch.Tensor]:
    """Maps an Ultralytics ``DetectionModel.state_dict()`` onto :class:`DetectionNetwork` keys."""
    out = {}
    for key, value in state_dict.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith("model."):
            continue
        if value.is_floating_point():
            value = value.to(dtype)
        out[key] = value
    return out
