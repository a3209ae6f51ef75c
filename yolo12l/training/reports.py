"""A report never costs a run: plots, ``predictions.json`` and metric records are written inside
:func:`report_file`, where an error (matplotlib, a full disk, an unexpected dtype) is a warning naming the file it
could not write, and the run goes on. The final evaluation's reports are written after the epoch's checkpoints
(``eval_reports.EvaluationReports``: in ``on_train_end`` during fit)."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class ReportErrors:
    """How many report files could not be written in this process (the warnings' count)."""

    count = 0


@contextlib.contextmanager
def report_file(path: str | Path) -> Iterator[None]:
    """Runs the block that writes ``path``; an ``Exception`` inside it becomes one warning naming ``path`` (and is
    counted in :class:`ReportErrors`) instead of ending the run."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - any failure of a report is reported, never raised
        ReportErrors.count += 1
        log.warning("could not write %s (%s: %s); the run goes on (%d report file(s) not written)", path,
                    type(err).__name__, err, ReportErrors.count)
