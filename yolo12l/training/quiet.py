"""Silences third-party messages that a yolo12l user cannot act on (the command line calls this).

Each entry names a message that our own configuration causes (e.g. the EMA callback being present while
validating a checkpoint), or an advertisement; everything else still reaches the user.
"""
from __future__ import annotations

import logging
import warnings

# (message regex, category) of warnings that the yolo12l configuration itself causes
IGNORED_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # the shipped configs have the EMA callback; validate/predict load EMA weights from the checkpoint anyway
    (r".*WeightAveraging callback, but loading a checkpoint outside the 'fit' stage.*", UserWarning),
    # Lightning's suggestion for tiny data loaders (val sets of a few images)
    (r".*does not have many workers which may be a bottleneck.*", UserWarning),
    (r".*The number of training batches .* is smaller than the logging interval.*", UserWarning),
    # BackboneFinetuning (train_bn) keeps the backbone's BatchNorms trainable, so they are in the module's optimizer
    # groups from the start; when it unfreezes the backbone the callback skips them, as intended
    (r".*The provided params to be frozen already exist within another group of this optimizer.*", UserWarning),
    # checkpoints are read with weights_only=True: the hint is for other code paths
    (r".*You are using `torch.load` with `weights_only=False`.*", FutureWarning),
)
# substrings of info lines that are advertisements
IGNORED_LOG_LINES = ("litlogger", "LitLogger", "💡 Tip")


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(s in msg for s in IGNORED_LOG_LINES)


def quiet_third_party(command: str = "fit") -> None:
    """Installs the warning filters and the log filter (idempotent)."""
    for message, category in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    if command != "fit":  # validate/test/predict --ckpt_path: the config's ModelCheckpoint is not used
        warnings.filterwarnings("ignore", message=r".*The dirpath has changed from.*", category=UserWarning)
    # third-party deprecation notices (e.g. torch internals called by Lightning) are not the user's to fix
    for module in ("lightning", "pytorch_lightning", "torch", "torchmetrics", "jsonargparse", "albumentations",
                   "tensorboard", "onnx", "onnxruntime"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) for f in logger.filters):
            logger.addFilter(_DropLines())
