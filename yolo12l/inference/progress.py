"""Progress of long predictions: a tqdm bar on a terminal, elsewhere (CI logs, ``nohup``, a pipe) one line every
few seconds, so a large folder never looks hung."""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``update(n)`` counts ``n`` more of ``total`` units (images, slices).

    Args:
        total: units in the whole run.
        desc: what is counted, e.g. ``"slices"``.
        every_s: seconds between lines when the stream is not a terminal.
        stream: where to write (stderr).
        enabled: False: nothing is shown (``--quiet``, or a run too small to need it).
    """

    def __init__(self, total: int, desc: str, every_s: float = 5.0, stream: TextIO | None = None,
                 enabled: bool = True):
        self.total, self.desc, self.every_s = int(total), desc, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.start = 0, time.monotonic()
        self._last = self.start
        self._bar = None
        self.enabled = enabled
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit="", file=self.stream, dynamic_ncols=True)

    def line(self) -> str:
        """``slices 120/490 (24%), 3.1/s, ETA 1m59s`` (the text of a non-terminal progress line)."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_text = f"{int(eta // 60)}m{int(eta % 60):02d}s" if eta == eta else "?"
        pct = 100 * self.done / self.total if self.total else 100
        return f"{self.desc} {self.done}/{self.total} ({pct:.0f}%), {rate:.1f}/s, ETA {eta_text}"

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s and self.done < self.total:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
