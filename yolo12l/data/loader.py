"""A DataLoader whose iterator starts at the first ``next``, not at ``iter``.

Why: Lightning builds the first training iterator while it configures the optimizers (to estimate the number of
steps), i.e. before a resumed run's loop state — its epoch — is restored, and then uses that iterator for the
first resumed epoch. A multi-worker iterator draws the sampler's order and starts loading samples as soon as it is
created, so that epoch would get the order and augmentation of epoch 0. Deferring the start to the first ``next``
(after ``on_train_epoch_start``, when Lightning has set the sampler's epoch) gives every epoch its own data.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader


class _DeferredIterator:
    def __init__(self, start: Callable[[], Iterator[Any]]):
        self._start = start
        self._iterator: Iterator[Any] | None = None

    def __iter__(self) -> _DeferredIterator:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._start()
        return next(self._iterator)


class DeferredStartDataLoader(DataLoader):
    """:class:`~torch.utils.data.DataLoader` whose ``iter()`` returns an iterator that creates the real one (samples
    the sampler, feeds the workers, persistent ones included) on its first ``next``."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        return _DeferredIterator(super().__iter__)
