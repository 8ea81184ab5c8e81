"""Shape ops: views and rearrangements of elements; their gradients move elements back."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function, ShapeError
from ..tensor import Tensor

__all__ = [
    'reshape', 'permute', 'transpose', 'getitem', 'view',
]

TENSOR_METHODS = ("reshape", "view", "permute", "transpose")


class Reshape(Function):
    """y = x viewed with a new shape;  dL/dx = dL/dy reshaped back to x's shape."""

    def forward(self, x: np.ndarray, shape: tuple = ()) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.reshape(self.shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``; one dimension may be -1 (inferred)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    known = int(np.prod([s for s in shape if s != -1]))
    n = x.data.size
    if shape.count(-1) > 1 or (-1 in shape and (known == 0 or n % known)) or (
            -1 not in shape and known != n):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                         f"({n} elements) into {shape}")
    return Reshape.apply(x, shape=shape)


view = reshape


class Permute(Function):
    """y = x with its axes reordered;  dL/dx = dL/dy with the inverse order."""

    def forward(self, x: np.ndarray, dims: tuple = ()) -> np.ndarray:
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.transpose(np.argsort(self.dims))


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder the axes: ``x.permute(0, 2, 1)``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x.ndim
    dims = tuple(int(d) % nd if nd else 0 for d in dims)
    if sorted(dims) != list(range(nd)):
        raise ShapeError(f"permute: dims {dims} are not a permutation of the {nd} axes of a "
                         f"tensor of shape {tuple(x.shape)}")
    return Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    nd = x.ndim
    if not (-nd <= dim0 < nd and -nd <= dim1 < nd):
        raise ShapeError(f"transpose: dims ({dim0}, {dim1}) out of range for a tensor of shape "
                         f"{tuple(x.shape)}")
    dims = list(range(nd))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


class GetItem(Function):
    """y = x[index];  dL/dx = zeros with dL/dy scatter-added at index (repeats accumulate)."""

    def forward(self, x: np.ndarray, index: Any = None) -> np.ndarray:
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, g: np.ndarray) -> np.ndarray:
        gx = np.zeros(self.shape, g.dtype)
        np.add.at(gx, self.index, g)
        return gx


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[...]`` with ints, slices, None, Ellipsis, integer arrays and boolean masks."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    try:
        return GetItem.apply(x, index=index)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} on a tensor of shape {tuple(x.shape)}: {e}") \
            from None
