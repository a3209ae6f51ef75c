"""A callback for the precision matrix (``--trainer.callbacks+=precision_probe.PrecisionProbe``): records what
really runs — whether autocast is on and in which dtype, the dtype the detection head's branches compute in and
the dtype of the network's output — per stage, into a JSON file under ``PRECISION_PROBE_DIR`` (one per rank)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch


class PrecisionProbe(L.Callback):
    def __init__(self) -> None:
        self.seen: dict[str, dict[str, Any]] = {}
        self._handle = None

    def _hook(self, stage: str, pl_module: L.LightningModule) -> None:
        if self._handle is not None:
            self._handle.remove()
        net = pl_module.fused_net or pl_module.net  # validate/test/predict run a fused copy

        def record(module: torch.nn.Module, args: tuple, output: Any) -> None:
            dev = args[0][0].device.type
            out = output if isinstance(output, torch.Tensor) else output[0]
            self.seen.setdefault(stage, {
                "autocast": torch.is_autocast_enabled(dev),
                "autocast_dtype": str(torch.get_autocast_dtype(dev)) if torch.is_autocast_enabled(dev) else None,
                "head_input": str(args[0][0].dtype), "output": str(out.dtype),
                "fused": bool(getattr(net, "fused", False)),
                "finite": bool(torch.isfinite(out).all()),
            })

        self._handle = net.head.register_forward_hook(record)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if "train" not in self.seen:
            self._hook("train", pl_module)

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if "validate" not in self.seen and not trainer.sanity_checking:
            self._hook("validate", pl_module)

    def on_test_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if "test" not in self.seen:
            self._hook("test", pl_module)

    def on_predict_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if "predict" not in self.seen:
            self._hook("predict", pl_module)

    def _dump(self, trainer: L.Trainer) -> None:
        folder = os.environ.get("PRECISION_PROBE_DIR")
        if folder:
            path = Path(folder) / f"{trainer.state.fn.value}-rank{trainer.global_rank}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            plugin = trainer.precision_plugin
            path.write_text(json.dumps({"precision": trainer.precision, "plugin": type(plugin).__name__,
                                        "scaler": getattr(plugin, "scaler", None) is not None, **self.seen}))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._dump(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._dump(trainer)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._dump(trainer)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._dump(trainer)
