"""PyTorch's ``DataLoader`` signature on top of :class:`deepwise.data.DataLoader`.

What each PyTorch argument does here:

- ``batch_size``, ``shuffle``, ``drop_last``, ``collate_fn``, ``generator``: as in
  :class:`deepwise.data.DataLoader` (array-backed datasets are batched with one fancy index);
- ``sampler`` (indices) or ``batch_sampler`` (lists of indices): the order of the samples; the
  batches are still gathered in one call when the dataset has ``__getitems__``;
- ``num_workers=N > 0``: N worker processes make the batches, up to ``prefetch_factor * N``
  in flight, yielded in the order of ``num_workers=0`` (the same batches); ``worker_init_fn``,
  ``get_worker_info()``, ``persistent_workers`` (the processes live on between epochs),
  ``multiprocessing_context`` (default ``fork`` where available) and ``timeout`` (seconds to
  wait for a batch) as in PyTorch; an error in a worker is raised here naming the worker, the
  batch and its sample indices. See :mod:`deepwise.utils.data.worker`;
- ``pin_memory``, ``pin_memory_device``, ``in_order``: accepted and without effect (there is
  no GPU to pin for; batches always come in order);
- an :class:`IterableDataset` is read in order and cut into batches of ``batch_size``.
"""

from __future__ import annotations

import hashlib
import queue
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...backend import default_generator as _default_generator
from ...data.dataloader import DataLoader as _BaseLoader
from ...data.dataloader import _to_tensors, default_collate
from ...data.dataset import supports_batch_indexing
from . import worker as _w
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


get_worker_info = _w.get_worker_info


class _Spec:
    """What a worker needs to make batches (picklable for the ``spawn`` start method)."""

    def __init__(self, loader: DataLoader) -> None:
        self.dataset, self.collate_fn = loader.dataset, loader.collate_fn
        self.batch_size, self.drop_last = loader.batch_size, loader.drop_last
        self.iterable, self.worker_init_fn = loader._iterable, loader.worker_init_fn
        self.fast = self.collate_fn is None and not self.iterable and \
            supports_batch_indexing(self.dataset)

    def fetch(self, idx: Any) -> Any:
        """The batch of the samples ``idx`` (one ``__getitems__`` call where the dataset has it)."""
        if self.fast:
            batch = self.dataset.__getitems__(np.asarray(idx, dtype=np.int64))
            return default_collate(batch) if isinstance(batch, list) else _to_tensors(batch)
        collate = self.collate_fn if self.collate_fn is not None else default_collate
        return collate([self.dataset[int(i)] for i in idx])

    def batches_of_stream(self) -> Iterator[Any]:
        """An IterableDataset's samples cut into batches."""
        return _stream_batches(self.dataset, self.batch_size, self.drop_last, self.collate_fn)


def _stream_batches(dataset: Any, batch_size: int, drop_last: bool,
                    collate_fn: Any) -> Iterator[Any]:
    """The samples of an iterable ``dataset`` collated ``batch_size`` at a time (the last, short
    batch kept unless ``drop_last``): in the main process and in each worker."""
    collate = collate_fn if collate_fn is not None else default_collate
    batch: list[Any] = []
    for sample in dataset:
        batch.append(sample)
        if len(batch) == batch_size:
            yield collate(batch)
            batch = []
    if batch and not drop_last:
        yield collate(batch)


class _Pool:
    """The worker processes of one loader, their queues, and their shutdown."""

    def __init__(self, loader: DataLoader, seed: int) -> None:
        ctx = _w.context(loader.multiprocessing_context)
        n = loader.num_workers
        self.results = ctx.Queue()
        self.done = ctx.Event()
        self.queues = [ctx.Queue() for _ in range(n)]
        spec = _Spec(loader)
        self.procs = [ctx.Process(target=_w.worker_loop, name=f"deepwise-dataloader-{i}",
                                  args=(i, n, seed, spec, self.queues[i], self.results,
                                        self.done), daemon=True) for i in range(n)]
        for proc in self.procs:
            proc.start()
        self.fresh = True  # seeded for the first epoch already
        self._finalizer = weakref.finalize(self, _Pool._stop, self.procs, self.queues,
                                           self.results, self.done)

    def alive(self) -> bool:
        return all(p.is_alive() for p in self.procs)

    @staticmethod
    def _stop(procs: list, queues: list, results: Any, done: Any) -> None:
        done.set()
        for q in queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=1)
        for q in [*queues, results]:
            q.cancel_join_thread()
            q.close()

    def shutdown(self) -> None:
        self._finalizer()


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
        if persistent_workers and num_workers == 0:
            raise ValueError(f"{where}: persistent_workers option needs num_workers > 0")
        if timeout < 0:
            raise ValueError(f"{where}: timeout option should be non-negative, got {timeout}")
        self.persistent_workers = bool(persistent_workers)
        self.multiprocessing_context = multiprocessing_context
        self._pool: _Pool | None = None
        self._epochs = 0
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
        if self._iterable:
            yield from _stream_batches(self.dataset, self.batch_size, self.drop_last,
                                       self.collate_fn)
            return
        if not self._custom:  # the base loader's order and fast path
            yield from super().__iter__()
            return
        spec = _Spec(self)  # the batches a worker would make, made here
        for idx in self.batch_sampler:
            yield spec.fetch(idx)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            yield from self._batches()
            return
        yield from self._from_workers()

    def _index_batches(self) -> Iterator[Any]:
        """The sample indices of each batch, in order: those ``num_workers=0`` would fetch."""
        if self._custom:
            yield from self.batch_sampler
            return
        order = self._order()
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def _base_seed(self) -> int:
        """The epoch's worker seed, from deepwise's generator state without drawing from it (so
        the shuffled orders are those of ``num_workers=0``): repeatable after manual_seed."""
        gen = self.generator if isinstance(self.generator, np.random.Generator) else \
            _default_generator()
        text = f"{gen.bit_generator.state}/{self._epochs}".encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:7], "little")

    def _from_workers(self) -> Iterator[Any]:  # noqa: C901 - one loop, its bookkeeping
        """Batches made by the worker processes, in order (see deepwise.utils.data.worker)."""
        seed = self._base_seed()
        self._epochs += 1
        epoch = self._epochs
        pool = self._pool
        if pool is not None and not pool.alive():
            pool.shutdown()
            pool = None
        if pool is None:
            pool = _Pool(self, seed)
        elif not pool.fresh:  # a persistent pool: a new epoch, a new seed, a new stream
            for q in pool.queues:
                q.put(("reset", epoch, seed))
        pool.fresh = False
        if self.persistent_workers:
            self._pool = pool
        n, ahead = self.num_workers, self.prefetch_factor * self.num_workers
        tasks = None if self._iterable else iter(self._index_batches())
        live = list(range(n))  # workers whose stream has not ended (iterable datasets)
        sent = received = 0
        done: dict[int, Any] = {}
        turn: dict[int, int] = {}  # batch k -> the worker asked for it

        def send() -> bool:
            nonlocal sent
            if tasks is None:
                if not live:
                    return False
                wid = live[sent % len(live)]
                pool.queues[wid].put((epoch, sent, None))
            else:
                idx = next(tasks, None)
                if idx is None:
                    return False
                wid = sent % n
                pool.queues[wid].put((epoch, sent, list(np.asarray(idx).tolist())))
            turn[sent] = wid
            sent += 1
            return True

        try:
            exhausted = False
            while True:
                while not exhausted and sent - received < ahead:
                    exhausted = not send()
                if received == sent:
                    return
                while received not in done:
                    got_epoch, k, wid, out = self._get(pool)
                    if isinstance(out, _w._Failure):
                        _w.reraise(out)
                    if got_epoch == epoch:
                        done[k] = out
                out = done.pop(received)
                received += 1
                if out is StopIteration:  # an iterable worker's stream ended
                    wid = turn[received - 1]
                    if wid in live:
                        live.remove(wid)
                    exhausted = exhausted and not live
                    continue
                yield _w.unpack(out)
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def _get(self, pool: _Pool) -> tuple:
        """The next result; a dead worker or ``timeout`` raises instead of hanging."""
        waited = 0.0
        while True:
            try:
                return pool.results.get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                dead = [p for p in pool.procs if not p.is_alive()]
                if dead:
                    pool.shutdown()
                    self._pool = None
                    raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}, "
                                       f"{dead[0].name}) exited unexpectedly with exit code "
                                       f"{dead[0].exitcode}") from None
                if self.timeout and waited >= self.timeout:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds "
                                       "waiting for a batch from its workers") from None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pool"] = None  # worker processes do not travel
        return state

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", num_workers={self.num_workers})"
