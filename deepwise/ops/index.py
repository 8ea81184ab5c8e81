"""Indexing ops: ``x[index]``, gather, index_select; the backward scatters gradients back.

Basic indexing (ints, slices, None, Ellipsis) and boolean masks pick each element at most once,
so the gradient is written into zeros (``gx[index] = g``). Integer arrays, gather and
index_select may pick an element several times: the copies' gradients are added (scatter-add).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function, ShapeError
from ..tensor import Tensor
from .shape import _ax, _dim, reshape

__all__ = ["getitem", "gather", "index_select"]

TENSOR_METHODS = ("gather", "index_select")


def _scatter_add(shape: tuple, index: Any, g: np.ndarray) -> np.ndarray:
    """zeros(shape) with ``g`` added at ``x[index]``, repeated positions accumulating.

    ``np.bincount`` on flat positions is 2-5x faster than ``np.add.at`` when the gradient is not
    much smaller than x; for a few rows of a large x, ``np.add.at`` wins (no pass over all of x).
    """
    size = math.prod(shape)
    if size <= 8 * g.size:
        ids = np.arange(size).reshape(shape)[index]
        out = np.bincount(ids.ravel(), weights=g.ravel(), minlength=size)
        return out.reshape(shape).astype(g.dtype, copy=False)
    gx = np.zeros(shape, g.dtype)
    np.add.at(gx, index, g)
    return gx


class GetItem(Function):
    """y = x[index];  dL/dx = zeros with dL/dy written (basic indexing, masks) or scatter-added
    (integer arrays: repeated positions accumulate) at index."""

    def forward(self, x: np.ndarray, index: Any = None, unique: bool = True) -> np.ndarray:
        self.shape, self.index, self.unique = x.shape, index, unique
        return x[index]

    def backward(self, g: np.ndarray) -> np.ndarray:
        if self.unique:  # every element of x appears at most once in y: assignment is enough
            gx = np.zeros(self.shape, g.dtype)
            gx[self.index] = g
            return gx
        return _scatter_add(self.shape, self.index, g)


_BASIC = (int, slice, type(None), type(Ellipsis))


def _index_part(i: Any) -> Any:
    """One part of an index as NumPy takes it: Tensors and lists become arrays; a 0-d integer
    array becomes an int (a view, as in PyTorch)."""
    if isinstance(i, Tensor):
        i = i.data
    elif isinstance(i, list):
        i = np.asarray(i)
        if i.size == 0:
            i = i.astype(np.intp)
    elif isinstance(i, np.integer):
        return int(i)
    if isinstance(i, np.ndarray):
        if i.dtype.kind not in "iub":
            raise IndexError(f"getitem: tensors used as indices must be integer or bool, "
                             f"got {i.dtype}")
        if i.ndim == 0 and i.dtype.kind in "iu":
            return int(i)
    return i


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[...]`` with ints, slices (any step), None, Ellipsis, integer arrays and boolean masks.

    Basic indexing gives a view; integer arrays and masks give copies, as in NumPy and PyTorch:
    (5, 4)[[0, 0, 3]] -> (3, 4), (5, 4)[mask of (5, 4)] -> (mask.sum(),).
    """
    if type(index) is tuple:
        if not all(type(i) in _BASIC for i in index):
            index = tuple(_index_part(i) for i in index)
    elif type(index) not in _BASIC:
        index = _index_part(index)
    parts = index if type(index) is tuple else (index,)
    unique = not any(isinstance(i, np.ndarray) and i.dtype.kind != "b" for i in parts)
    try:
        return GetItem.apply(x, index=index, unique=unique)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} on a tensor of shape {tuple(x.shape)}: {e}") \
            from None


def _index_array(index: Any, op: str) -> np.ndarray:
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got {idx.dtype}")
    return idx


def _check_range(idx: np.ndarray, n: int, op: str, dim: int, shape: tuple) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"{op}: index {bad} is out of range for dim {dim} of size {n} "
                         f"(tensor of shape {tuple(shape)}); expected 0 <= index < {n}")


class Gather(Function):
    """y[i][j] = x[index[i][j]][j] (for dim=0);  dL/dx = dL/dy scatter-added at index."""

    def forward(self, x: np.ndarray, index: Any = None, dim: int = 0) -> np.ndarray:
        self.shape, self.index, self.dim = x.shape, index, dim
        if index.shape != x.shape:  # PyTorch lets index be smaller than x in the other dims
            x = x[tuple(slice(None) if k == dim else slice(0, m)
                        for k, m in enumerate(index.shape))]
        return np.take_along_axis(x, index, axis=dim)

    def backward(self, g: np.ndarray) -> np.ndarray:
        grid = list(np.indices(self.index.shape, sparse=True))
        grid[self.dim] = self.index
        return _scatter_add(self.shape, tuple(grid), g)


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """Pick along ``dim`` by ``index`` (same number of dims as x, no larger in the others);
    the output has index's shape. ``gather(logp, 1, target[:, None])`` picks each row's class."""
    d = _dim(dim, x.shape, "gather")
    idx = _index_array(index, "gather")
    sh = tuple(x.shape)
    if x.ndim == 0 and idx.ndim <= 1:  # a 0-d input acts as a 1-element vector
        return reshape(gather(reshape(x, 1), 0, idx.reshape(-1)), idx.shape)
    if idx.ndim != len(sh) or any(m > n for k, (m, n) in enumerate(zip(idx.shape, sh)) if k != d):
        raise ShapeError(f"gather: index of shape {idx.shape} for an input of shape {sh} along "
                         f"dim {dim}; expected {len(sh)} dims, no larger than the input except "
                         f"in dim {dim}")
    _check_range(idx, sh[d], "gather", dim, sh)
    return Gather.apply(x, index=idx, dim=d)


class IndexSelect(Function):
    """y = x[:, index] (for dim=1);  dL/dx = dL/dy scatter-added at index along dim."""

    def forward(self, x: np.ndarray, index: Any = None, dim: int = 0) -> np.ndarray:
        self.shape, self.index, self.dim = x.shape, index, dim
        return np.take(x, index, axis=dim)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return _scatter_add(self.shape, _ax(self.dim, self.index), g)


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The entries ``index`` (a 1-D integer tensor, repeats allowed) along ``dim``:
    (5, 3).index_select(0, [4, 0, 4]) -> (3, 3)."""
    d = _dim(dim, x.shape, "index_select")
    idx = _index_array(index, "index_select")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {idx.shape}")
    if x.ndim == 0:  # a 0-d input acts as a 1-element vector and stays 0-d
        return reshape(index_select(reshape(x, 1), 0, idx), ())
    idx = idx.reshape(-1)
    _check_range(idx, x.shape[d], "index_select", dim, x.shape)
    return IndexSelect.apply(x, index=idx, dim=d)
