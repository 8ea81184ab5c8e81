"""PyTorch's ``DataLoader`` signature on top of :class:`deepwise.data.DataLoader`.

What each PyTorch argument does here:

- ``batch_size``, ``shuffle``, ``drop_last``, ``collate_fn``, ``generator``: as in
  :class:`deepwise.data.DataLoader` (array-backed datasets are batched with one fancy index);
- ``sampler`` (indices) or ``batch_sampler`` (lists of indices): the order of the samples; the
  batches are still gathered in one call when the dataset has ``__getitems__``;
- ``num_workers=N > 0``: batches are made ahead by ONE background thread, up to
  ``prefetch_factor * N`` batches in advance (NumPy's gathers release the GIL); no worker
  processes are started, so ``worker_init_fn`` is called once, in that thread, with id 0;
- ``pin_memory``, ``timeout``, ``persistent_workers``, ``multiprocessing_context``,
  ``pin_memory_device``, ``in_order``: accepted and without effect (there is no GPU to pin for);
- an :class:`IterableDataset` is read in order and cut into batches of ``batch_size``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...data.dataloader import DataLoader as _BaseLoader
from ...data.dataloader import _to_tensors, default_collate
from ...data.dataset import supports_batch_indexing
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "IterableDataset", "get_worker_info"]


class IterableDataset:
    """A dataset that is a stream: subclasses define ``__iter__`` (no ``len``, no ``[i]``).

    >>> class Count(IterableDataset):
    ...     def __iter__(self): return iter(range(5))
    >>> [b.tolist() for b in DataLoader(Count(), batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _WorkerInfo:
    def __init__(self, dataset: Any) -> None:
        self.id, self.num_workers, self.seed, self.dataset = 0, 1, 0, dataset


_worker = threading.local()


def get_worker_info() -> _WorkerInfo | None:
    """Inside the prefetch thread of a loader with ``num_workers > 0``: its info (id 0 of 1);
    elsewhere None, as in PyTorch's main process."""
    return getattr(_worker, "info", None)


_END = object()


class DataLoader(_BaseLoader):
    """``torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=None, sampler=None,
    batch_sampler=None, num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
    timeout=0, worker_init_fn=None, ..., generator=None, prefetch_factor=None,
    persistent_workers=False)`` - see the module docstring for what each argument does.

    Shape: as :class:`deepwise.data.DataLoader`: ``TensorDataset(X (N, ...), y (N,))`` gives
    batches ``(X (B, ...), y (B,))``.

    >>> loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, num_workers=2)
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], Any] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        where = "DataLoader"
        if batch_size is None:
            raise ValueError(f"{where}: batch_size=None (no automatic batching) is not "
                             "supported; pass batch_size=1 and index the batch")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise ValueError(f"{where}: num_workers must be an int >= 0, got {num_workers!r}")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError(f"{where}: batch_sampler is mutually exclusive with batch_size, "
                             "shuffle, sampler and drop_last")
        if sampler is not None and shuffle:
            raise ValueError(f"{where}: sampler is mutually exclusive with shuffle")
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError(f"{where}: an IterableDataset has no indices to shuffle or sample; "
                             "shuffle inside its __iter__")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError(f"{where}: prefetch_factor needs num_workers > 0")
        super().__init__(dataset, batch_size=batch_size, shuffle=bool(shuffle),
                         drop_last=drop_last, collate_fn=collate_fn, generator=generator)
        self.num_workers = int(num_workers)
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.worker_init_fn = worker_init_fn
        self.pin_memory, self.timeout = bool(pin_memory), timeout
        self.persistent_workers = bool(persistent_workers)
        self._iterable = iterable
        # a sampler of the user's own: batches follow it; otherwise the base loader's order
        self._custom = sampler is not None or batch_sampler is not None
        if not iterable and batch_sampler is None:
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=generator) if shuffle
                           else SequentialSampler(dataset))
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        if self._iterable:
            raise TypeError("DataLoader: an IterableDataset has no len()")
        if not self._custom:
            return super().__len__()
        return len(self.batch_sampler)

    def _batches(self) -> Iterator[Any]:
        collate = self.collate_fn if self.collate_fn is not None else default_collate
        if self._iterable:
            batch: list[Any] = []
            for sample in self.dataset:
                batch.append(sample)
                if len(batch) == self.batch_size:
                    yield collate(batch)
                    batch = []
            if batch and not self.drop_last:
                yield collate(batch)
            return
        if not self._custom:  # the base loader's order and fast path
            yield from super().__iter__()
            return
        fast = self.collate_fn is None and supports_batch_indexing(self.dataset)
        for idx in self.batch_sampler:
            if fast:
                batch = self.dataset.__getitems__(np.asarray(idx, dtype=np.int64))
                yield default_collate(batch) if isinstance(batch, list) else _to_tensors(batch)
            else:
                yield collate([self.dataset[int(i)] for i in idx])

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            yield from self._batches()
            return
        yield from self._prefetched()

    def _prefetched(self) -> Iterator[Any]:
        """Batches made ahead by one background thread (see the module docstring)."""
        q: queue.Queue = queue.Queue(maxsize=self.prefetch_factor * self.num_workers)
        stop = threading.Event()

        def work() -> None:
            _worker.info = _WorkerInfo(self.dataset)
            try:
                if self.worker_init_fn is not None:
                    self.worker_init_fn(0)
                for b in self._batches():
                    if stop.is_set():
                        return
                    q.put((b, None))
            except BaseException as e:  # handed to the consumer, raised there
                q.put((None, e))
                return
            q.put((_END, None))

        t = threading.Thread(target=work, name="deepwise-dataloader", daemon=True)
        t.start()
        try:
            while True:
                item, err = q.get()
                if err is not None:
                    raise err
                if item is _END:
                    return
                yield item
        finally:
            stop.set()
            while t.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    t.join(0.01)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", num_workers={self.num_workers})"
