"""Indexing ops: ``x[index]``, gather, index_select; the backward scatters gradients back.

Basic indexing (ints, slices, None, Ellipsis) and boolean masks pick each element at most once,
so the gradient is written into zeros (``gx[index] = g``). Integer arrays, gather and
index_select may pick an element several times: the copies' gradients are added (scatter-add).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor
from .shape import _ax, _dim, reshape

__all__ = ["getitem", "gather", "index_select"]

TENSOR_METHODS = ("gather", "index_select")
__all__ += ["tril", "triu", "masked_select", "nonzero", "scatter", "scatter_add", "index_add"]
TENSOR_METHODS += ("tril", "triu", "masked_select", "nonzero", "scatter", "scatter_add",
                   "index_add")


def _scatter_add(shape: tuple, index: Any, g: np.ndarray) -> np.ndarray:
    """zeros(shape) with ``g`` added at ``x[index]``, repeated positions accumulating.

    ``np.bincount`` on flat positions is 2-5x faster than ``np.add.at`` when the gradient is not
    much smaller than x; for a few rows of a large x, ``np.add.at`` wins (no pass over all of x).
    """
    xp = get_array_module(shape, index, g)
    size = math.prod(shape)
    if size <= 8 * g.size:
        ids = xp.arange(size).reshape(shape)[index]
        out = xp.bincount(ids.ravel(), weights=g.ravel(), minlength=size)
        return out.reshape(shape).astype(g.dtype, copy=False)
    gx = xp.zeros(shape, g.dtype)
    backend.scatter_add(gx, index, g)
    return gx


class GetItem(Function):
    """y = x[index];  dL/dx = zeros with dL/dy written (basic indexing, masks) or scatter-added
    (integer arrays: repeated positions accumulate) at index."""

    def forward(self, x: np.ndarray, index: Any = None, unique: bool = True) -> np.ndarray:
        self.shape, self.index, self.unique = x.shape, index, unique
        return x[index]

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        if self.unique:  # every element of x appears at most once in y: assignment is enough
            gx = xp.zeros(self.shape, g.dtype)
            gx[self.index] = g
            return gx
        return _scatter_add(self.shape, self.index, g)


_BASIC = (int, slice, type(None), type(Ellipsis))


def _index_part(i: Any) -> Any:
    """One part of an index as NumPy takes it: Tensors and lists become arrays; a 0-d integer
    array becomes an int (a view, as in PyTorch)."""
    xp = get_array_module(i)
    if isinstance(i, Tensor):
        i = i.data
    elif isinstance(i, list):
        i = xp.asarray(i)
        if i.size == 0:
            i = i.astype(np.intp)
    elif isinstance(i, np.integer):
        return int(i)
    if backend.is_array(i):
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
    unique = not any(backend.is_array(i) and i.dtype.kind != "b" for i in parts)
    try:
        return GetItem.apply(x, index=index, unique=unique)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} on a tensor of shape {tuple(x.shape)}: {e}") \
            from None


def _index_array(index: Any, op: str) -> np.ndarray:
    xp = get_array_module(index, op)
    idx = index.data if isinstance(index, Tensor) else xp.asarray(index)
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
        xp = get_array_module(x)
        self.shape, self.index, self.dim = x.shape, index, dim
        if index.shape != x.shape:  # PyTorch lets index be smaller than x in the other dims
            x = x[tuple(slice(None) if k == dim else slice(0, m)
                        for k, m in enumerate(index.shape))]
        return xp.take_along_axis(x, index, axis=dim)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        grid = _open_grid(self.index.shape, xp)
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
        xp = get_array_module(x)
        self.shape, self.index, self.dim = x.shape, index, dim
        return xp.take(x, index, axis=dim)

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


# ---- triangles: keep the entries on one side of a diagonal -----------------------------------


class Triangle(Function):
    """y = x * M with M the (lower or upper) triangle mask of the last two axes;  dL/dx = g * M."""

    def forward(self, x: Any, diagonal: int = 0, upper: bool = False) -> Any:
        xp = get_array_module(x)
        n, m = x.shape[-2:]
        rows, cols = xp.arange(n)[:, None], xp.arange(m)[None, :]
        self.mask = cols - rows >= diagonal if upper else cols - rows <= diagonal
        return xp.where(self.mask, x, xp.zeros((), x.dtype))

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return xp.where(self.mask, g, xp.zeros((), g.dtype))


def _triangle(op: str, x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a batch of matrices (..., n, m), got shape "
                         f"{tuple(x.shape)}")
    return Triangle.apply(x, diagonal=int(diagonal), upper=upper)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (entries with col - row <= diagonal), the rest 0.

    >>> tril(deepwise.ones(3, 3)).tolist()[0]
    [1.0, 0.0, 0.0]
    """
    return _triangle("tril", x, diagonal, upper=False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (entries with col - row >= diagonal), the rest 0."""
    return _triangle("triu", x, diagonal, upper=True)


# ---- masks and positions ------------------------------------------------------------------


def _bool_mask(mask: Any, op: str) -> Any:
    xp = get_array_module(mask, op)
    m = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got {m.dtype} (compare first: x > 0)")
    return m


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The entries of x where ``mask`` (broadcast with x) is True, as a 1-D tensor; the gradient
    goes back to those entries (through ``x[mask]``)."""
    xp = get_array_module(x, mask)
    from .shape import expand

    m = _bool_mask(mask, "masked_select")
    try:
        shape = np.broadcast_shapes(tuple(x.shape), m.shape)
    except ValueError:
        raise ShapeError(f"masked_select: mask of shape {m.shape} does not broadcast with the "
                         f"input's shape {tuple(x.shape)}") from None
    xb = x if tuple(x.shape) == shape else expand(x, *shape)
    return getitem(xb, xp.broadcast_to(m, shape))


def nonzero(x: Tensor, *, as_tuple: bool = False) -> Any:
    """The positions of the non-zero entries: int64 (count, ndim), or with ``as_tuple`` one 1-D
    tensor per axis (ready for indexing). Not differentiable (positions have no gradient)."""
    xp = get_array_module(x.data)
    pos = xp.nonzero(x.data)
    if as_tuple:
        return tuple(Tensor._make(p.astype(np.int64)) for p in pos)
    return Tensor._make(xp.stack(pos, axis=1).astype(np.int64) if pos else
                        xp.zeros((int(bool(x.data)), 0), np.int64))


# ---- scatter: write (or add) values at positions along one axis ---------------------------


def _open_grid(shape: tuple, xp: Any) -> list:
    """``np.indices(shape, sparse=True)`` (CuPy's ``indices`` has no ``sparse``): one arange per
    axis, shaped to broadcast against the others."""
    n = len(shape)
    return [xp.arange(s).reshape((1,) * k + (s,) + (1,) * (n - k - 1))
            for k, s in enumerate(shape)]


def _scatter_grid(index: Any, dim: int) -> tuple:
    grid = _open_grid(index.shape, get_array_module(index))
    grid[dim] = index
    return tuple(grid)


class Scatter(Function):
    """y = x with y[..., index[i, j], ...] = src[i, j] along dim (the last write wins);
    dL/dx = g with zeros where y was written,  dL/dsrc = g gathered at index."""

    def forward(self, x: Any, src: Any, index: Any = None, dim: int = 0,
                add: bool = False) -> Any:
        xp = get_array_module(x)
        self.grid, self.add = _scatter_grid(index, dim), add
        y = x.copy()
        if isinstance(src, (int, float, bool)) or getattr(src, "ndim", 1) == 0:
            src = xp.broadcast_to(xp.asarray(src, dtype=x.dtype), index.shape)
        elif src.shape != index.shape:
            src = src[tuple(slice(0, k) for k in index.shape)]
        if add:
            backend.scatter_add(y, self.grid, src)
        else:
            y[self.grid] = src
        return y

    def backward(self, g: Any) -> tuple:
        nx, ns = self.needs_input_grad
        gx = gs = None
        if nx:
            gx = g
            if not self.add:
                gx = g.copy()
                gx[self.grid] = 0
        if ns:
            gs = g[self.grid]
        return gx, gs


def _scatter(op: str, x: Tensor, dim: int, index: Any, src: Any, add: bool) -> Tensor:
    d = _dim(dim, x.shape, op)
    idx = _index_array(index, op)
    sh = tuple(x.shape)
    if idx.ndim != len(sh) or any(m > n for k, (m, n) in enumerate(zip(idx.shape, sh)) if k != d):
        raise ShapeError(f"{op}: index of shape {idx.shape} for an input of shape {sh} along dim "
                         f"{dim}; expected {len(sh)} dims, no larger than the input except in "
                         f"dim {dim}")
    if isinstance(src, Tensor) and src.ndim and (src.ndim != idx.ndim or any(
            m > n for m, n in zip(idx.shape, src.shape))):
        raise ShapeError(f"{op}: src of shape {tuple(src.shape)} is smaller than the index "
                         f"{idx.shape}; expected src at least as large in every dim")
    _check_range(idx, sh[d], op, dim, sh)
    return Scatter.apply(x, src, index=idx, dim=d, add=add)


def scatter(x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
    """Out of place: x with ``x[index[i][j]][j] = src[i][j]`` (dim=0), or ``= value``.
    Repeated positions: one of the writes wins (as in PyTorch, which leaves it unspecified)."""
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src (a tensor) and value (a number)")
    return _scatter("scatter", x, dim, index, value if src is None else src, add=False)


def scatter_add(x: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """Out of place: x with ``src[i][j]`` added at ``x[index[i][j]][j]`` (dim=0), repeats summed."""
    return _scatter("scatter_add", x, dim, index, src, add=True)


class IndexAdd(Function):
    """y = x;  y[index[k] along dim] += alpha * source[k along dim];
    dL/dx = g,  dL/dsource = alpha * g[index along dim]."""

    def forward(self, x: Any, source: Any, index: Any = None, dim: int = 0,
                alpha: float = 1) -> Any:
        self.index, self.dim, self.alpha = index, dim, alpha
        y = x.copy()
        backend.scatter_add(y, _ax(dim, index), source * alpha if alpha != 1 else source)
        return y

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        gs = xp.take(g, self.index, axis=self.dim)
        return g, gs * self.alpha if self.alpha != 1 else gs


def index_add(x: Tensor, dim: int, index: Any, source: Tensor, *, alpha: float = 1) -> Tensor:
    """Out of place: x with ``alpha * source`` added at the positions ``index`` (1-D) along
    ``dim`` (repeats summed). source: x's shape with ``len(index)`` along ``dim``."""
    d = _dim(dim, x.shape, "index_add")
    idx = _index_array(index, "index_add").reshape(-1)
    want = tuple(len(idx) if k == d else n for k, n in enumerate(x.shape))
    if tuple(source.shape) != want:
        raise ShapeError(f"index_add: source has shape {tuple(source.shape)}, expected {want} "
                         f"(the input's {tuple(x.shape)} with len(index)={len(idx)} along dim "
                         f"{dim})")
    _check_range(idx, x.shape[d], "index_add", dim, x.shape)
    return IndexAdd.apply(x, source, index=idx, dim=d, alpha=alpha)
