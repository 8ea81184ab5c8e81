"""Ordering ops: sort, argsort, topk, unique.

``sort`` and ``topk`` return ``(values, indices)`` as PyTorch does (named tuples). The values
are ONE differentiable op, :class:`TakeSorted`: entries picked along a dim by positions computed
without gradient; its backward puts each gradient back where its entry came from (the positions
along the dim are distinct, so no two gradients meet). ``argsort`` and ``unique`` give integers
only: no gradient.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor
from .shape import _dim

__all__ = ["sort", "argsort", "topk", "msort", "unique"]

TENSOR_METHODS = ("sort", "argsort", "topk", "msort", "unique")

SortResult = namedtuple("sort", ["values", "indices"])
TopKResult = namedtuple("topk", ["values", "indices"])


class TakeSorted(Function):
    """y = take_along_axis(x, idx, dim), idx distinct along dim;
    dL/dx = zeros with dL/dy put back at idx along dim."""

    def forward(self, x: Any, index: Any = None, dim: int = 0) -> Any:
        xp = get_array_module(x)
        self.shape, self.index, self.dim = x.shape, index, dim
        return xp.take_along_axis(x, index, axis=dim)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        gx = xp.zeros(self.shape, dtype=g.dtype)
        xp.put_along_axis(gx, self.index, g, axis=self.dim)
        return gx


def _order(x: Any, dim: int, descending: bool, stable: bool) -> Any:
    """Positions that sort ``x`` along ``dim`` (NaN last ascending, first descending)."""
    xp = get_array_module(x)
    kind = "stable" if stable else None
    if not descending:
        return xp.argsort(x, axis=dim, kind=kind)
    if x.dtype == np.bool_:
        x = x.astype(np.int8)
    # descending and stable: sort the negated keys ascending (ties keep their order)
    keys = -x.astype(np.float64) if x.dtype.kind in "iu" else -x
    return xp.argsort(keys, axis=dim, kind=kind)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)``: x sorted along ``dim``; ``values`` carries the gradient.

    >>> sort(deepwise.tensor([3., 1., 2.])).indices.tolist()
    [1, 2, 0]
    """
    xp = get_array_module(x)
    if x.ndim == 0:
        return SortResult(x, Tensor._make(xp.zeros((), np.int64)))
    d = _dim(dim, x.shape, "sort")
    idx = _order(x.data, d, descending, stable).astype(np.int64)
    return SortResult(TakeSorted.apply(x, index=idx, dim=d), Tensor._make(idx))


def msort(x: Tensor) -> Tensor:
    """x sorted along its first axis (the values of ``sort(x, dim=0)``)."""
    return sort(x, 0).values


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The positions that sort x along ``dim`` (int64, no gradient)."""
    xp = get_array_module(x)
    if x.ndim == 0:
        return Tensor._make(xp.zeros((), np.int64))
    d = _dim(dim, x.shape, "argsort")
    return Tensor._make(_order(x.data, d, descending, stable).astype(np.int64))


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) entries along
    ``dim``, in order. Shape: x (..., n, ...) -> (..., k, ...).

    >>> topk(deepwise.tensor([1., 5., 3.]), 2).values.tolist()
    [5.0, 3.0]
    """
    shape = tuple(x.shape) or (1,)
    d = _dim(dim, shape, "topk")
    n = shape[d]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ShapeError(f"topk: k={k!r} is out of range for dim {dim} of size {n} (tensor of "
                         f"shape {tuple(x.shape)}); expected 0 <= k <= {n}")
    xd = x.data.reshape(shape)
    xp = get_array_module(xd)
    if k < n and n > 64:  # partition first: O(n) to find the k, then sort only those
        keys = -xd if largest else xd
        part = xp.argpartition(keys, k - 1, axis=d)
        part = xp.take(part, xp.arange(k), axis=d)
        sub = xp.take_along_axis(xd, part, axis=d)
        idx = xp.take_along_axis(part, _order(sub, d, largest, True), axis=d)
    else:
        idx = xp.take(_order(xd, d, largest, True), xp.arange(k), axis=d)
    idx = idx.astype(np.int64)
    src = x if x.ndim else x.reshape(1)
    return TopKResult(TakeSorted.apply(src, index=idx, dim=d), Tensor._make(idx))


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values of x, sorted (flattened unless ``dim``); optionally the inverse
    positions (x's shape) and the counts. Not differentiable."""
    xp = get_array_module(x.data)
    axis = None if dim is None else _dim(dim, x.shape, "unique")
    vals, inv, counts = xp.unique(x.data, return_inverse=True, return_counts=True, axis=axis)
    out = [Tensor._make(vals)]
    if return_inverse:
        out.append(Tensor._make(inv.reshape(x.shape if axis is None else -1).astype(np.int64)))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)
