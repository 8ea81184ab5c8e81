"""DistributedSampler: each rank visits its own share of the data set, a new one every epoch.

All ranks draw the same permutation (from ``seed + epoch``), pad it by repeating its start until
its length divides by the number of ranks (or cut it, with ``drop_last``), and rank ``r`` takes
every N-th index starting at ``r``. So the shards are disjoint, equally long, and together
cover the data set once; ``set_epoch(e)`` before each epoch gives a new permutation.

Interleaving has a useful property: rank r's k-th batch of B holds positions r, r+N, ... of the
k-th block of N*B indices, so the N ranks' k-th batches together are exactly the k-th batch of
N*B that one process would read from the same permutation.

>>> [list(DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
[[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DistributedSampler"]

_default_group: Any = None  # bound by deepwise.distributed.init_process_group


def _bind_default_group(group: Any) -> None:
    global _default_group
    _default_group = group


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` visits this epoch.

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: default: the world size and rank of ``deepwise.distributed``'s
            process group (it must be initialised unless both are given).
        shuffle: a random permutation from ``seed + epoch`` (the same on every rank).
        seed: the base seed; every rank must use the same one.
        drop_last: cut the tail so that it divides evenly, instead of repeating indices.

    Use as a DataLoader ``sampler`` (``deepwise.utils.data.DataLoader(ds, batch_size,
    sampler=s)``) or as a list of indices (``Subset(ds, list(s))``); call ``set_epoch(epoch)``
    at the start of every epoch, or every epoch repeats the same order.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            if _default_group is None:
                raise RuntimeError("DistributedSampler: num_replicas and rank are needed when "
                                   "deepwise.distributed is not initialised (call "
                                   "init_process_group() first, or pass both)")
            num_replicas = _default_group.size if num_replicas is None else num_replicas
            rank = _default_group.rank if rank is None else rank
        if isinstance(num_replicas, bool) or int(num_replicas) != num_replicas \
                or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be an int >= 1, got "
                             f"{num_replicas!r}")
        if isinstance(rank, bool) or int(rank) != rank or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be an int in [0, {num_replicas - 1}]"
                             f" (num_replicas={num_replicas}), got {rank!r}")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch`` (call it with the same value on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n:  # pad by repeating the start (more than once if n is tiny)
            order = np.resize(order, self.total_size)
        else:
            order = order[:self.total_size]
        return order[self.rank::self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(rank={self.rank} of {self.num_replicas}, "
                f"samples={self.num_samples}, shuffle={self.shuffle}, epoch={self.epoch})")
