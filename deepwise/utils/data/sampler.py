"""Samplers: the order in which a DataLoader visits a dataset's indices (PyTorch's classes).

A sampler is an iterable of indices (``BatchSampler``: of lists of indices) with a ``len``.
Random ones draw from ``generator`` (a ``deepwise.Generator`` or any NumPy Generator) or from
deepwise's seeded default generator, so ``deepwise.manual_seed`` repeats an epoch's order.

>>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ... import backend
from ...tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


def _gen(generator: Any, where: str) -> np.random.Generator:
    gen = generator if generator is not None else backend.default_generator()
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"{where}: generator must be a deepwise.Generator (or a NumPy "
                        f"Generator), got {type(gen).__name__}")
    return gen


def _positive(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and, usually, ``__len__``."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation each epoch, or ``num_samples`` draws with ``replacement=True``."""

    def __init__(self, data_source: Any, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = None if num_samples is None else _positive(
            num_samples, "num_samples", "RandomSampler")
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, gen = len(self.data_source), _gen(self.generator, "RandomSampler")
        if self.replacement:
            return iter(gen.integers(0, n, size=self.num_samples).tolist())
        reps = -(-self.num_samples // n)
        order = np.concatenate([gen.permutation(n) for _ in range(reps)])
        return iter(order[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a fresh random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        perm = _gen(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        return (int(self.indices[i]) for i in perm)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        w = np.asarray(weights.data if isinstance(weights, Tensor) else weights, np.float64)
        if w.ndim != 1 or w.size == 0 or (w < 0).any() or not np.isfinite(w).all() \
                or w.sum() <= 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-d sequence "
                             f"of finite, non-negative numbers with a positive sum, got shape "
                             f"{w.shape}")
        self.weights = w
        self.num_samples = _positive(num_samples, "num_samples", "WeightedRandomSampler")
        self.replacement = bool(replacement)
        if not self.replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} samples "
                             f"without replacement from {np.count_nonzero(w)} non-zero weights")
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        gen = _gen(self.generator, "WeightedRandomSampler")
        idx = gen.choice(self.weights.size, size=self.num_samples, replace=self.replacement,
                         p=self.weights / self.weights.sum())
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last may be short
    unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = _positive(batch_size, "batch_size", "BatchSampler")
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
