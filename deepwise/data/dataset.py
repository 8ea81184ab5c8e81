"""Datasets: what a DataLoader draws samples from.

A dataset answers two questions: how many samples (``len(ds)``) and what is sample ``i``
(``ds[i]``). Datasets whose samples live in arrays (``TensorDataset``, the real datasets in
``deepwise.data.datasets``, and ``Subset``/``ConcatDataset`` of them) also answer
``ds.__getitems__(indices)``: the whole batch at once, gathered with ONE fancy index per array
instead of a Python loop over samples. The DataLoader uses that fast path whenever it exists.

The ``__getitems__`` contract (deepwise's, not PyTorch's): given a 1-d int64 array of indices,
return the already-collated batch - an array, or a tuple/dict of arrays (or tensors) whose
first axis is the batch axis. (Returning a *list* of samples, as PyTorch's ``__getitems__``
does, also works: the DataLoader then collates it.)
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "supports_batch_indexing", "ImageClassificationDataset"]


class Dataset(abc.ABC):
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    >>> class Squares(Dataset):
    ...     def __len__(self): return 10
    ...     def __getitem__(self, i): return float(i), i * i
    >>> len(Squares() + Squares())            # ``+`` concatenates, as in PyTorch
    20
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """Sample ``index`` (0 <= index < len(self))."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])

    def _batchable(self) -> bool:
        """True when ``__getitems__`` gathers a whole batch at once (see the module docstring)."""
        return callable(getattr(self, "__getitems__", None))


def supports_batch_indexing(dataset: Any) -> bool:
    """True when ``dataset.__getitems__(indices)`` returns a whole collated batch.

    Works for any object: deepwise datasets answer through ``_batchable`` (a ``Subset`` asks
    the dataset under it), other objects by having a ``__getitems__`` method.
    """
    probe = getattr(dataset, "_batchable", None)
    if callable(probe):
        return bool(probe())
    return callable(getattr(dataset, "__getitems__", None))


def _as_index_array(indices: Any, where: str) -> np.ndarray:
    """A 1-d int64 array of indices (from a list, range, array or integer tensor)."""
    if isinstance(indices, Tensor):
        indices = indices.data
    arr = np.asarray(indices)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"{where}: expected a 1-d sequence of integer indices, got "
                        f"{arr.dtype} array of shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def _check_range(idx: np.ndarray, n: int, where: str) -> None:
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"{where}: index {int(bad)} is out of range for a dataset of {n} samples")


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays or tensors: ``ds[i] = (a[i], b[i], ...)``.

    Args:
        *tensors: arrays or tensors sharing their first dimension (N). Arrays are kept as they
            are (no copy, dtype kept - pass float32 images and int64 labels).

    ``ds[i]`` returns a tuple of tensors; ``ds.__getitems__(idx)`` returns a tuple of arrays of
    shape (B, ...), one fancy index each - the DataLoader's fast path.

    >>> X, y = np.zeros((100, 4), np.float32), np.arange(100)
    >>> ds = TensorDataset(X, y)
    >>> len(ds), ds[3][1].item()
    (100, 3)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one array or tensor, got none")
        arrays = []
        for k, t in enumerate(tensors):
            a = t.data if isinstance(t, Tensor) else np.asarray(t)
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: argument {k} is a 0-d value; every argument "
                                 "needs a first (sample) dimension")
            arrays.append(a)
        sizes = [a.shape[0] for a in arrays]
        if any(s != sizes[0] for s in sizes):
            detail = ", ".join(f"argument {k}: {a.shape}" for k, a in enumerate(arrays))
            raise ValueError(f"TensorDataset: size mismatch between tensors - first dimensions "
                             f"{sizes} differ ({detail}); every tensor needs the same N")
        self.arrays: tuple[np.ndarray, ...] = tuple(arrays)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The stored data as tensors (sharing memory with the arrays)."""
        return tuple(Tensor._make(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor._make(np.asarray(a[index])) for a in self.arrays)

    def __getitems__(self, indices: Any) -> tuple[np.ndarray, ...]:
        """The batch ``(a[indices], b[indices], ...)``, each (B, ...): one fancy index per array."""
        idx = _as_index_array(indices, "TensorDataset.__getitems__")
        return tuple(a[idx] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in order: ``Subset(ds, idx)[k] == ds[idx[k]]``.

    Batches of a Subset of an array-backed dataset still take one fancy index: the subset maps
    the batch's positions to the parent's indices and asks the parent for them all at once.
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        idx = _as_index_array(indices, "Subset")
        _check_range(idx, len(dataset), "Subset")
        self.indices: np.ndarray = idx

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return self.dataset[[int(self.indices[i]) for i in index]]
        return self.dataset[int(self.indices[index])]

    def _batchable(self) -> bool:
        return supports_batch_indexing(self.dataset)

    def __getitems__(self, indices: Any) -> Any:
        """The parent's batch at ``self.indices[indices]`` (needs a batch-indexable parent)."""
        if not supports_batch_indexing(self.dataset):
            raise TypeError(f"Subset.__getitems__: the dataset under this subset "
                            f"({type(self.dataset).__name__}) has no __getitems__; index it "
                            "sample by sample (the DataLoader does this for you)")
        idx = _as_index_array(indices, "Subset.__getitems__")
        return self.dataset.__getitems__(self.indices[idx])

    def __repr__(self) -> str:
        return f"Subset({type(self.dataset).__name__}, {len(self)} of {len(self.dataset)})"


class ConcatDataset(Dataset):
    """Several datasets one after the other: indices ``0 .. len(a)-1`` are ``a``'s, then ``b``'s ...

    ``cumulative_sizes[k]`` is the number of samples in datasets ``0..k``. If every part is
    array-backed, a batch is gathered with one fancy index per part.
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        sizes = [len(d) for d in self.datasets]
        self.cumulative_sizes: list[int] = np.cumsum(sizes).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, index: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        if index < 0:
            index += n
        d = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return d, index - start

    def __getitem__(self, index: int) -> Any:
        d, i = self._locate(int(index))
        return self.datasets[d][i]

    def _batchable(self) -> bool:
        return all(supports_batch_indexing(d) for d in self.datasets)

    def __getitems__(self, indices: Any) -> Any:
        """One ``__getitems__`` per part that the batch touches, merged back in batch order."""
        idx = _as_index_array(indices, "ConcatDataset.__getitems__")
        n = len(self)
        _check_range(idx, n, "ConcatDataset.__getitems__")
        idx = np.where(idx < 0, idx + n, idx)
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]]).astype(np.int64)
        which = np.searchsorted(self.cumulative_sizes, idx, side="right")
        parts = [(np.flatnonzero(which == d), d) for d in np.unique(which)]
        batches = [self.datasets[d].__getitems__(idx[pos] - starts[d]) for pos, d in parts]
        if len(parts) == 1:
            return batches[0]
        return _merge(batches, [pos for pos, _ in parts], len(idx))

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self.datasets)} datasets, {len(self)} samples)"


def _merge(batches: list[Any], positions: list[np.ndarray], total: int) -> Any:
    """Put partial batches (same structure) back into one batch, row ``positions[k]`` from k."""
    first = batches[0]
    if isinstance(first, (tuple, list)):
        merged = [_merge([b[j] for b in batches], positions, total) for j in range(len(first))]
        return type(first)(merged)
    if isinstance(first, dict):
        return {key: _merge([b[key] for b in batches], positions, total) for key in first}
    tensor_out = isinstance(first, Tensor)
    arrays = [b.data if isinstance(b, Tensor) else np.asarray(b) for b in batches]
    out = np.empty((total,) + arrays[0].shape[1:], dtype=np.result_type(*arrays))
    for arr, pos in zip(arrays, positions):
        out[pos] = arr
    return Tensor._make(out) if tensor_out else out


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1; as
    in PyTorch, fractions become ``floor(n * f)`` samples each and the samples left over are
    handed out one at a time, round-robin, from the first subset on.

    The permutation is drawn from ``generator`` (a NumPy Generator) or from deepwise's seeded
    default generator, so ``deepwise.manual_seed`` makes the split repeatable.

    >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2])
    >>> len(train), len(val)
    (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1 and any(
            isinstance(x, (float, np.floating)) for x in lengths):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not in [0, 1]")
        counts = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the "
                         f"dataset has {n} samples")
    gen = generator if generator is not None else backend.default_generator()
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"random_split: generator must be a numpy.random.Generator, got "
                        f"{type(gen).__name__}")
    perm = gen.permutation(n)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, perm[bounds[k]:bounds[k + 1]]) for k in range(len(lengths))]


class ImageClassificationDataset(Dataset):
    """Base of labelled grey-image sets held in memory (MNIST, FashionMNIST, Digits).

    Subclasses set ``data`` uint8 (N, H, W), ``targets`` int64 (N,), ``classes``,
    ``pixel_max`` (the largest raw pixel value, e.g. 255) and ``transform`` /
    ``target_transform`` (functions on batches, or None).

    Shape: ``ds[i]`` is ``(image Tensor float32 (1, H, W) in [0, 1], label int)``;
    ``ds.__getitems__(idx)`` is ``(images float32 (B, 1, H, W), labels int64 (B,))``, one fancy
    index per batch, then the transforms; ``ds.arrays()`` is the whole set that way.
    """

    data: np.ndarray
    targets: np.ndarray
    classes: list[str]
    pixel_max: int = 255
    transform: Any = None
    target_transform: Any = None

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitems__(self, indices: Sequence[int] | np.ndarray) -> tuple[Any, Any]:
        """``(images float32 (B, 1, H, W) in [0, 1], labels int64 (B,))`` in one gather."""
        where = f"{type(self).__name__}.__getitems__"
        idx = _as_index_array(indices, where)
        _check_range(idx, len(self), where)
        images = np.divide(self.data[idx, None], np.float32(self.pixel_max), dtype=np.float32)
        labels = self.targets[idx]
        if self.transform is not None:
            images = self.transform(images)
        if self.target_transform is not None:
            labels = self.target_transform(labels)
        return images, labels

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        images, labels = self.__getitems__([int(index)])
        image = images[0] if isinstance(images, Tensor) else Tensor._make(np.asarray(images[0]))
        label = labels[0]
        return image, int(label) if isinstance(label, (np.integer, int)) else label

    def arrays(self) -> tuple[Any, Any]:
        """The whole set: ``(images float32 (N, 1, H, W) in [0, 1], labels int64 (N,))``."""
        return self.__getitems__(np.arange(len(self)))

    @property
    def class_to_idx(self) -> dict[str, int]:
        """``{class name: label}``."""
        return {c: i for i, c in enumerate(self.classes)}
