"""DataLoader: turns a dataset into an iterable of mini-batches of tensors.

Each epoch (each ``iter(loader)``) orders the sample indices - ``0 .. N-1``, or a fresh random
permutation when ``shuffle=True`` - and cuts them into batches of ``batch_size`` indices. A batch
is then made in one of two ways:

1. fast path: the dataset has ``__getitems__`` (``TensorDataset``, MNIST, Digits, a ``Subset``
   of them ...) and no ``collate_fn`` was given - the whole batch is ONE call, a fancy index per
   array, with no Python loop over samples;
2. otherwise: ``[dataset[i] for i in batch]`` and ``collate_fn`` (``default_collate`` unless
   given) stacks the samples.

Either way the arrays come out as deepwise Tensors (sharing memory with the gathered arrays).
"""

from __future__ import annotations

import collections.abc
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import supports_batch_indexing

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch, keeping the samples' structure.

    - arrays / tensors of equal shape -> one Tensor of shape (B, ...) (dtype kept);
    - Python ints -> int64 Tensor (B,); floats -> default-dtype (float32) Tensor; bools -> bool;
      NumPy scalars keep their dtype;
    - tuples, lists, namedtuples and dicts -> the same structure, collated field by field;
    - strings and anything else that cannot be stacked -> the list as it is (strings), or a
      TypeError naming the type.

    >>> default_collate([(np.zeros(3), 1), (np.ones(3), 0)])[1]
    tensor([1, 0])
    """
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError(f"default_collate: expected a non-empty list of samples, got {batch!r}")
    elem = batch[0]
    if isinstance(elem, (Tensor, np.ndarray)):
        arrays = [b.data if isinstance(b, Tensor) else np.asarray(b) for b in batch]
        shape = arrays[0].shape
        for k, a in enumerate(arrays):
            if a.shape != shape:
                raise ValueError(f"default_collate: sample 0 has shape {shape} but sample {k} has "
                                 f"shape {a.shape}; samples must share a shape to be stacked "
                                 "(pad them, or pass a collate_fn)")
        return Tensor._make(np.stack(arrays))
    if isinstance(elem, (bool, np.bool_)):
        return Tensor._make(np.array(batch, dtype=np.bool_))
    if isinstance(elem, np.generic):
        return Tensor._make(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, int):
        return Tensor._make(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor._make(np.array(batch, dtype=backend.get_default_dtype()))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        for k, b in enumerate(batch):
            if len(b) != n:
                raise ValueError(f"default_collate: sample 0 has {n} fields but sample {k} has "
                                 f"{len(b)}; every sample needs the same structure")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}; "
                    "samples may hold arrays, tensors, numbers, strings, tuples, lists or dicts "
                    "- pass a collate_fn for anything else")


def _to_tensors(batch: Any) -> Any:
    """Wrap every array of a gathered batch in a Tensor (no copy), keeping the structure."""
    if isinstance(batch, np.ndarray):
        return Tensor._make(batch)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_tensors(b) for b in batch))
    if isinstance(batch, tuple):
        return tuple(_to_tensors(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_tensors(v) for k, v in batch.items()}
    return batch


class DataLoader:
    """Iterate over ``dataset`` in mini-batches of tensors.

    Args:
        dataset: a map-style dataset (``len`` and ``[i]``); array-backed ones also have
            ``__getitems__`` and are batched with one fancy index per batch.
        batch_size: samples per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: draw a new random order at the start of every epoch.
        drop_last: drop the last, incomplete batch.
        collate_fn: ``list of samples -> batch``; when given, samples are fetched one by one
            (``dataset[i]``) and passed to it. Default: the fast path, or ``default_collate``.
        generator: the NumPy Generator that shuffling draws from; default: deepwise's seeded
            generator (``deepwise.manual_seed(s)`` makes the epochs' orders repeatable).

    Shape: for ``TensorDataset(X (N, ...), y (N,))`` each batch is ``(X (B, ...), y (B,))``
    with ``B = batch_size``. ``len(loader)`` is the number of batches per epoch.

    Example::

        loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable[[list[Any]], Any] | None = None,
                 generator: np.random.Generator | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator "
                            f"(np.random.default_rng(seed)), got {type(generator).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got "
                            f"{type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        gen = self.generator if self.generator is not None else backend.default_generator()
        return gen.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        fast = self.collate_fn is None and supports_batch_indexing(self.dataset)
        collate = self.collate_fn if self.collate_fn is not None else default_collate
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            if fast:
                batch = self.dataset.__getitems__(idx)
                yield default_collate(batch) if isinstance(batch, list) else _to_tensors(batch)
            else:
                yield collate([self.dataset[i] for i in idx.tolist()])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
