"""Exceptions that mean "the user's input is wrong", as opposed to a bug in yolo12l.

The ``yolo12l`` command prints these as one line (``yolo12l <command>: error: …``, exit status 2) instead of a
traceback; ``--debug`` (or ``YOLO12L_DEBUG=1``) shows the traceback anyway. Each also derives from the built-in
exception it used to be (``ValueError``, ``KeyError``…), so existing ``except`` clauses keep working.
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user gave: a path, a name, a config value, a dataset. The message names it."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot be used (unknown optimizer, bad image size, bad model YAML row…)."""


class UnknownBlockError(UserError, KeyError):
    """A model YAML names a block that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(UserError, ValueError):
    """A weights file that cannot be used: unreadable, of another architecture, or not a checkpoint at all."""
