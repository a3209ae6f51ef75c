"""Sampler that carries the epoch to the dataset (``close_mosaic``), shuffles per epoch and, under DDP, gives each
rank whole mosaic windows.

Lightning calls ``set_epoch`` on a loader's sampler before each training epoch. The sampler's ``__iter__`` also runs in
the main process right before workers receive indices, so when given ``epoch_fn`` (e.g. ``lambda:
trainer.current_epoch``) it refreshes the epoch there too (resumed runs).

Distributed: the sampler is a :class:`~torch.utils.data.DistributedSampler` (so Lightning does not wrap it) that
reads the rank and world size from ``torch.distributed`` when the order is drawn. The epoch order (``order.py``) is
cut into windows of ``window`` positions (the batch size), window ``w`` goes to rank ``w % world_size``; windows are
repeated from the start so that every rank gets the same number (like DistributedSampler's padding), and a rank's
short window (the epoch's last) comes last, so every batch is exactly one window. Ranks therefore read disjoint
samples (up to that padding), and each sample is the one a single process would produce.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch.distributed as dist
from torch.utils.data import DistributedSampler

from .dataset import DetectionDataset
from .order import epoch_order, window_spans


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSampler(DistributedSampler):
    """Random (``shuffle``) or sequential order over ``dataset``; forwards the epoch to ``dataset.set_epoch``.

    seed: if given, the order of epoch ``e`` is a permutation drawn from ``seed + e`` (reproducible);
    otherwise it is drawn from torch's global RNG. window: positions per window (default: the dataset's
    ``mosaic_window``); rank/num_replicas: default from ``torch.distributed`` at each ``__iter__``.
    """

    def __init__(self, dataset: DetectionDataset, shuffle: bool = True, seed: int | None = None,
                 epoch_fn: Callable[[], int | None] | None = None, window: int | None = None,
                 rank: int | None = None, num_replicas: int | None = None) -> None:
        # DistributedSampler.__init__ needs a process group; only its type matters here
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch_fn = epoch_fn
        self.epoch = 0
        self.window = int(window if window is not None else getattr(dataset, "mosaic_window", 1) or 1)
        self._rank, self._replicas = rank, num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.dataset.set_epoch(self.epoch)

    def _placement(self) -> tuple[int, int]:
        rank, world = _world()
        return (self._rank if self._rank is not None else rank,
                self._replicas if self._replicas is not None else world)

    @property
    def rank(self) -> int:  # type: ignore[override]
        return self._placement()[0]

    @property
    def num_replicas(self) -> int:  # type: ignore[override]
        return self._placement()[1]

    def _my_spans(self) -> list[tuple[int, int]] | None:
        """This rank's windows in the order it reads them; None: one process reads the whole order."""
        rank, world = self._placement()
        if world == 1:
            return None
        spans = window_spans(len(self.dataset), self.window)
        per_rank = -(-len(spans) // world)
        padded = spans + [spans[i % len(spans)] for i in range(per_rank * world - len(spans))]
        mine = padded[rank::world]
        short = [s for s in mine if s[1] - s[0] < self.window]
        return [s for s in mine if s[1] - s[0] == self.window] + short

    def __len__(self) -> int:
        spans = self._my_spans()
        return len(self.dataset) if spans is None else sum(b - a for a, b in spans)

    def __iter__(self) -> Iterator[int]:
        if self.epoch_fn is not None:
            e = self.epoch_fn()
            if e is not None:
                self.set_epoch(e)
        self.dataset.collect_load_failures()
        self.epoch = self.dataset.epoch  # the dataset's epoch is the one its windows follow
        n = len(self.dataset)
        order = epoch_order(n, self.seed, self.epoch).tolist() if self.shuffle else list(range(n))
        spans = self._my_spans()
        if spans is None:
            return iter(order)
        return iter([i for a, b in spans for i in order[a:b]])
