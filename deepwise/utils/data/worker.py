"""DataLoader worker processes (PyTorch's ``num_workers=N``): N processes make batches while the
main process trains.

The main process keeps the order: it draws the sample indices (sampler, shuffle) exactly as with
``num_workers=0``, hands batch k to worker ``k % N`` through that worker's index queue, keeps up
to ``prefetch_factor * N`` batches in flight, and yields the results in batch order from one
shared result queue - so the batches and their order are those of ``num_workers=0``. For an
:class:`IterableDataset` each worker iterates its own copy of the dataset (split the stream with
:func:`get_worker_info`, as in PyTorch) and the batches are taken from the workers in turn.

Inside a worker ``get_worker_info()`` gives ``id``, ``num_workers``, ``seed`` (``base_seed +
id``; deepwise's generator and Python's ``random`` are seeded with it) and ``dataset``;
``worker_init_fn(id)`` runs first. An exception in a worker is sent back and raised in the main
process, naming the worker, the batch and its sample indices, with the worker's traceback.
Batches travel as arrays (tensors are unwrapped in the worker and wrapped again here).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import threading
import traceback
from typing import Any

import numpy as np

from ... import backend
from ...tensor import Tensor

__all__ = ["WorkerInfo", "get_worker_info", "worker_loop", "pack", "unpack", "reraise"]


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (PyTorch's fields)."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Any) -> None:  # noqa: A002
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker: its :class:`WorkerInfo`; in the main process: None."""
    return getattr(_local, "info", None)


def set_worker_info(info: WorkerInfo | None) -> None:
    _local.info = info


class _Tensor:
    """A tensor in transit: its array (tensors are rebuilt in the main process)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def pack(batch: Any) -> Any:
    """``batch`` with every Tensor replaced by a picklable stand-in, the structure kept."""
    if isinstance(batch, Tensor):
        return _Tensor(backend.to_numpy(batch.data))
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(pack(b) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(pack(b) for b in batch)
    if isinstance(batch, dict):
        return {k: pack(v) for k, v in batch.items()}
    return batch


def unpack(batch: Any) -> Any:
    """The inverse of :func:`pack`."""
    if isinstance(batch, _Tensor):
        return Tensor._make(batch.array)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(unpack(b) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(unpack(b) for b in batch)
    if isinstance(batch, dict):
        return {k: unpack(v) for k, v in batch.items()}
    return batch


class _Failure:
    """An exception raised in a worker, sent back as text (its type may not pickle)."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.type = type(exc)
        self.where = where
        self.trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def __reduce__(self) -> Any:  # the type itself pickles by reference; fall back to a name
        return (_rebuild_failure, (self.type, self.where, self.trace))


def _rebuild_failure(kind: type, where: str, trace: str) -> _Failure:
    f = _Failure.__new__(_Failure)
    f.type, f.where, f.trace = kind, where, trace
    return f


def reraise(failure: _Failure) -> None:
    """Raise, in the main process, the worker's exception type with where it happened and the
    worker's own traceback in the message (PyTorch's wording)."""
    msg = f"Caught {failure.type.__name__} {failure.where}.\nOriginal {failure.trace}"
    try:
        err = failure.type(msg)
    except Exception:  # noqa: BLE001 - a type that will not take one string
        err = RuntimeError(msg)
    raise err


def worker_loop(wid: int, num_workers: int, base_seed: int, spec: Any, index_queue: Any,
                result_queue: Any, done: Any) -> None:
    """One worker process: seed, ``worker_init_fn(wid)``, then answer tasks until told to stop.

    Tasks: ``(epoch, k, indices)`` -> ``(epoch, k, wid, batch or _Failure)``; for an iterable
    dataset ``indices`` is None (the next batch of this worker's stream; the end is sent back as
    ``StopIteration``); ``("reset", epoch, seed)`` starts a new epoch; ``None`` ends the loop.
    """
    stream = None

    def start(seed: int) -> None:
        backend.manual_seed(seed)
        random.seed(seed)
        set_worker_info(WorkerInfo(wid, num_workers, seed, spec.dataset))

    try:
        start(base_seed + wid)
        if spec.worker_init_fn is not None:
            spec.worker_init_fn(wid)
        if spec.iterable:  # after worker_init_fn, which may configure the dataset's copy
            stream = spec.batches_of_stream()
    except Exception as e:  # noqa: BLE001 - sent to the main process
        result_queue.put((-1, -1, wid, _Failure(e, f"in DataLoader worker process {wid} "
                                                   "while starting (worker_init_fn)")))
        return
    while not done.is_set():
        try:
            task = index_queue.get(timeout=0.5)
        except queue.Empty:
            continue
        if task is None:
            break
        if task[0] == "reset":
            start(task[2] + wid)
            if spec.iterable:
                stream = spec.batches_of_stream()
            continue
        epoch, k, idx = task
        try:
            if spec.iterable:
                try:
                    batch: Any = next(stream)
                except StopIteration:
                    batch = StopIteration
            else:
                batch = spec.fetch(idx)
            out = batch if batch is StopIteration else pack(batch)
        except Exception as e:  # noqa: BLE001 - sent to the main process
            shown = "" if idx is None else f" (sample indices {_short(idx)})"
            out = _Failure(e, f"in DataLoader worker process {wid} while fetching batch {k}"
                              f"{shown}")
        result_queue.put((epoch, k, wid, out))


def _short(idx: Any) -> str:
    idx = [int(i) for i in idx]
    return str(idx) if len(idx) <= 8 else f"[{', '.join(map(str, idx[:8]))}, ...]"


def context(multiprocessing_context: Any) -> Any:
    """The multiprocessing context: the one given (a name or a context), else ``fork`` where
    the platform has it (no pickling of the dataset), else ``spawn``."""
    if multiprocessing_context is None:
        methods = mp.get_all_start_methods()
        return mp.get_context("fork" if "fork" in methods else "spawn")
    if isinstance(multiprocessing_context, str):
        return mp.get_context(multiprocessing_context)
    return multiprocessing_context
