"""Sampler that carries the epoch to the dataset (``close_mosaic``) and shuffles per epoch.

Lightning calls ``set_epoch`` on a loader's sampler before each training epoch (single device). The
sampler's ``__iter__`` also runs in the main process right before workers receive indices, so when given
``epoch_fn`` (e.g. ``lambda: trainer.current_epoch``) it refreshes the epoch there too, which covers DDP
(where Lightning wraps this sampler and only the wrapper gets ``set_epoch``) and resumed runs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Sampler

from .dataset import DetectionDataset


class EpochSampler(Sampler[int]):
    """Random (``shuffle``) or sequential order over ``dataset``; forwards the epoch to ``dataset.set_epoch``.

    seed: if given, the order of epoch ``e`` is a permutation drawn from ``seed + e`` (reproducible);
    otherwise it is drawn from torch's global RNG.
    """

    def __init__(self, dataset: DetectionDataset, shuffle: bool = True, seed: int | None = None,
                 epoch_fn: Callable[[], int | None] | None = None) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch_fn = epoch_fn
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.dataset.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        if self.epoch_fn is not None:
            e = self.epoch_fn()
            if e is not None:
                self.set_epoch(e)
        self.dataset.collect_load_failures()
        n = len(self.dataset)
        if not self.shuffle:
            return iter(range(n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch if self.seed is not None else int(torch.empty((), dtype=torch.int64).random_()))
        return iter(torch.randperm(n, generator=g).tolist())
