"""The console output of yolo12l's own log messages (dataset summaries, "Transferred x/y items", the optimizer
choice, written files): the ``yolo12l`` command shows them on stdout, warnings prefixed ``WARNING:``, on the
global rank 0 only (under DDP every rank would repeat them). Python users get them through standard ``logging``.
"""
from __future__ import annotations

import logging
import sys


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"WARNING: {text}" if record.levelno >= logging.WARNING else text


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (so redirections made after set-up are followed)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_Format())
        self.addFilter(_rank_zero)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it
        pass


def _rank_zero(record: logging.LogRecord) -> bool:
    try:
        from lightning.pytorch.utilities.rank_zero import rank_zero_only
    except ImportError:  # pragma: no cover
        return True
    return getattr(rank_zero_only, "rank", 0) == 0


def enable_console_logging(level: int = logging.INFO) -> None:
    """Shows the ``yolo12l`` loggers' messages at ``level`` and above on stdout (idempotent)."""
    logger = logging.getLogger("yolo12l")
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        logger.addHandler(_StdoutHandler())
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
