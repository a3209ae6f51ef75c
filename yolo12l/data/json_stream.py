"""Reads a JSON object file's top level one value at a time, and the elements of chosen arrays one at a time, so
that a large COCO instances file (10^6 annotations) is never held as one parsed object tree.

:func:`iter_object` yields ``(key, index, value)``: ``index`` is None for a whole top-level value and the element's
position for the elements of an array under one of the ``stream`` keys, which first yields ``(key, None, ARRAY)``.
Elements of the ``skip`` keys are parsed and dropped (a second pass reads them). Values are decoded by the standard
library's ``json`` scanner (``JSONDecoder.raw_decode``) on a sliding text buffer; errors are
:class:`json.JSONDecodeError` with the line and column in the whole file, as ``json.load`` gives them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Container, Iterator
from typing import Any, TextIO

CHUNK_CHARS = 4 * 2**20  # text read per refill
TRUNCATED_WITHIN = 16 * 2**20  # a decoding error this close to the buffer's end may be a value cut by it
ARRAY = object()  # the value yielded for a streamed array, before its elements


class NotAnObject(ValueError):
    """The file's top level is not a JSON object."""
_WS = " \t\n\r"


class _Buffer:
    """A sliding window on a text file: ``text[pos:]`` is what is still to be read."""

    def __init__(self, f: TextIO, chunk: int = CHUNK_CHARS) -> None:
        self.f, self.chunk = f, int(chunk)
        self.text, self.pos, self.eof = "", 0, False
        self.lines_before, self.col_before = 0, 0  # newlines in (and chars after the last one of) dropped text
        self.decoder = json.JSONDecoder()

    def more(self, at_least: int = 0) -> bool:
        """Drops what was read and appends at least one chunk (or ``at_least`` characters); False at the end
        (then nothing changes)."""
        data = "" if self.eof else self.f.read(max(self.chunk, at_least))
        if not data:  # the end: nothing moves (callers keep their positions in ``text``)
            self.eof = True
            return False
        dropped = self.text[:self.pos]
        newlines = dropped.count("\n")
        self.col_before = len(dropped) - dropped.rfind("\n") - 1 if newlines else self.col_before + len(dropped)
        self.lines_before += newlines
        self.text, self.pos = self.text[self.pos:] + data, 0
        return True

    def error(self, msg: str, pos: int) -> json.JSONDecodeError:
        """``msg`` at ``text[pos]`` with the whole file's line and column."""
        err = json.JSONDecodeError(msg, self.text, pos)
        if err.lineno == 1:
            err.colno += self.col_before
        err.lineno += self.lines_before
        err.args = (f"{msg}: line {err.lineno} column {err.colno}",)
        return err

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end), not consumed."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, expected: str) -> str:
        ch = self.peek()
        if ch == "" or ch not in expected:
            raise self.error(f"Expecting {' or '.join(repr(c) for c in expected)}", self.pos)
        self.pos += 1
        return ch

    def value(self) -> Any:
        """The next JSON value. A value cut by the buffer's end (a truncated string, object or number) is retried
        with more text, the refill growing each time (so a long value costs linear time)."""
        self.peek()
        grow = self.chunk
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as e:
                if len(self.text) - e.pos <= TRUNCATED_WITHIN and self.more(grow):
                    grow *= 2
                    continue
                raise self.error(e.msg, e.pos) from None
            # a number near the buffer's end may go on in the next chunk ("2." + "5" decodes as 2 then fails)
            if isinstance(value, (int, float)) and len(self.text) - end < 64 and self.more(grow):
                continue
            self.pos = end
            return value


def iter_object(path: str | os.PathLike, stream: Container[str] = (), skip: Container[str] = (),
                chunk: int = CHUNK_CHARS) -> Iterator[tuple[str, int | None, Any]]:
    """``(key, index, value)`` of the top-level object in ``path`` (see the module doc). Raises :class:`NotAnObject`
    when the file's top level is not an object, :class:`json.JSONDecodeError` when it is not valid JSON."""
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark (some Windows tools write one) is skipped
        buf = _Buffer(f, chunk)
        first = buf.peek()
        if first != "{":
            if first == "" or first not in '["-0123456789tfn':
                raise buf.error("Expecting value", buf.pos)
            raise NotAnObject("the top level is not a JSON object")
        buf.take("{")
        if buf.peek() == "}":
            buf.take("}")
        else:
            while True:
                key = buf.value()
                if not isinstance(key, str):
                    raise buf.error("Expecting property name enclosed in double quotes", buf.pos)
                buf.take(":")
                if (key in stream or key in skip) and buf.peek() == "[":
                    buf.take("[")
                    if key in stream:
                        yield key, None, ARRAY
                    if buf.peek() == "]":
                        buf.take("]")
                    else:
                        k = 0
                        while True:
                            item = buf.value()
                            if key in stream:
                                yield key, k, item
                            del item
                            k += 1
                            if buf.take(",]") == "]":
                                break
                else:
                    yield key, None, buf.value()
                if buf.take(",}") == "}":
                    break
        if buf.peek() != "":
            raise buf.error("Extra data", buf.pos)
