"""ONNX Runtime inference for ``yolo12l predict --backend onnxruntime``: export once, cache, run.

The network is exported (fused, without NMS, dynamic batch) at a fixed input size ``(H, W)`` — the exported graph
fixes H and W — to a file next to the weights named ``<stem>.<sha256 of the weights, 16 hex>.<H>x<W>.onnx``; later
runs with the same weights and size reuse it. Where the weights' folder is not writable the cache is
``~/.cache/yolo12l/onnx/``. The file is written to a temporary name and renamed, so an interrupted export never
leaves a broken cache entry.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn

__all__ = ["OnnxRuntimeModel", "onnx_cache_path", "weights_digest"]

log = logging.getLogger(__name__)


def weights_digest(path: str | os.PathLike, length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def onnx_cache_path(weights: str | os.PathLike, imgsz: tuple[int, int]) -> Path:
    """Where the ONNX export of ``weights`` at ``imgsz = (H, W)`` is cached (see the module docstring)."""
    weights = Path(weights)
    name = f"{weights.stem}.{weights_digest(weights)}.{imgsz[0]}x{imgsz[1]}.onnx"
    if _writable(weights.resolve().parent):
        return weights.resolve().parent / name
    return Path.home() / ".cache" / "yolo12l" / "onnx" / name


class OnnxRuntimeModel:
    """Callable like the network in eval mode: ``model(x)`` with x (B, 3, H, W) float in 0..1 at the export size →
    (B, 4 + nc, A) torch tensor on x's device.

    Args:
        weights: the weights file (for the cache key).
        net: the network to export when the cache is missing (not modified).
        imgsz: (H, W), multiples of 32.
        device: ``cpu`` or ``cuda[:i]`` (CUDAExecutionProvider when onnxruntime has it).
        threads: intra-op threads (None: onnxruntime's default, all cores).
    """

    def __init__(self, weights: str | os.PathLike, net: nn.Module, imgsz: Sequence[int], device: str = "cpu",
                 threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeError("--backend onnxruntime needs the onnxruntime package (pip install onnxruntime)") from exc
        from .onnx import export_onnx, normalise_imgsz

        self.imgsz = normalise_imgsz(tuple(imgsz))
        self.path = onnx_cache_path(weights, self.imgsz)
        self.exported = not self.path.is_file()
        if self.exported:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            log.info("exporting %s to ONNX at %dx%d (once; cached as %s)", weights, *self.imgsz, self.path)
            try:
                export_onnx(net, tmp, imgsz=self.imgsz, dynamic=True)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self.device = torch.device(device)
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.imgsz:
            raise ValueError(f"the ONNX model was exported for {self.imgsz}, got input {tuple(x.shape[-2:])}")
        feed = np.ascontiguousarray(x.detach().float().cpu().numpy())
        (y,) = self.session.run(None, {self.input_name: feed})
        return torch.from_numpy(y).to(x.device)
