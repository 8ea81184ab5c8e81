"""Reductions: sums, means, extrema and norms over dimensions; gradients spread back over them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

__all__ = [
    'sum', 'mean',
]

TENSOR_METHODS = ("sum", "mean")


def _axes(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim if ndim else 0 for d in dims)


class Sum(Function):
    """y = sum_i x_i over dims;  dy/dx_i = 1 (the gradient is broadcast back over the dims)."""

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False) -> np.ndarray:
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return np.asarray(x.sum(axis=axes, keepdims=keepdim))

    def backward(self, g: np.ndarray) -> np.ndarray:
        if not self.keepdim and self.axes is not None:
            g = np.expand_dims(g, self.axes)
        return np.broadcast_to(g, self.shape)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n."""

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False) -> np.ndarray:
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        out = np.asarray(x.mean(axis=axes, keepdims=keepdim))
        self.n = x.size // max(out.size, 1) if x.size else 1
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        if not self.keepdim and self.axes is not None:
            g = np.expand_dims(g, self.axes)
        return np.broadcast_to(g / self.n, self.shape)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (an int, a tuple, or None for all)."""
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)
