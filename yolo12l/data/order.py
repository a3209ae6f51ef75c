"""The training order of an epoch and its mosaic windows: one definition for the sampler and the dataset.

The order of epoch ``e`` is ``torch.randperm(n)`` drawn from a generator seeded with ``seed + e``. It is cut into
*windows* of ``window`` consecutive positions (the last one may be shorter). The :class:`~.sampler.EpochSampler`
hands whole windows to a rank, so with ``window`` = the batch size one batch is one window, and torch's fetcher gives
it in one ``Dataset.__getitems__`` call to one worker. The dataset draws mosaic / mixup partners of a sample only from
its window, so the images a batch needs are the images of that batch: about one decode per sample, on any dataset
size, and a sample stays a pure function of ``(seed, epoch, index)`` — the window follows from the order, not from
which worker or process loads the sample (a loader that does not batch by window only costs extra decodes).
"""
from __future__ import annotations

import numpy as np
import torch


def epoch_order(n: int, seed: int | None, epoch: int) -> torch.Tensor:
    """(n,) int64 permutation of ``range(n)`` for ``epoch`` (``seed`` None: drawn from torch's global generator)."""
    g = torch.Generator()
    g.manual_seed(seed + epoch if seed is not None else int(torch.empty((), dtype=torch.int64).random_()))
    return torch.randperm(n, generator=g)


def window_spans(n: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) positions of the windows of an epoch of ``n`` samples."""
    return [(s, min(s + window, n)) for s in range(0, n, window)]


class EpochWindows:
    """Dataset index -> the dataset indices of its window in the order of an epoch (cached for the last epoch).

    Memory: two int64 arrays of ``n`` per process (16 MB for a million images).
    """

    def __init__(self, n: int, seed: int, window: int) -> None:
        if window < 1:
            raise ValueError(f"mosaic window must be >= 1, got {window}")
        self.n, self.seed, self.window = int(n), int(seed), int(window)
        self._epoch: int | None = None
        self._order = np.empty(0, np.int64)
        self._position = np.empty(0, np.int64)

    def _load(self, epoch: int) -> None:
        if self._epoch != epoch:
            self._order = epoch_order(self.n, self.seed, epoch).numpy()
            self._position = np.empty(self.n, np.int64)
            self._position[self._order] = np.arange(self.n)
            self._epoch = epoch

    def __call__(self, epoch: int, index: int) -> np.ndarray:
        """(k,) dataset indices of ``index``'s window in ``epoch`` (``index`` included, k <= ``window``)."""
        self._load(epoch)
        start = int(self._position[index]) // self.window * self.window
        return self._order[start:start + self.window]
