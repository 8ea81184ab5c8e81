"""Basic layers: Identity, Linear (the fully connected layer), Flatten, Unflatten."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import ShapeError
from ..ops import linalg as _linalg
from ..ops import shape as _shape
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear", "Flatten", "Unflatten"]


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to remove a layer). Arguments are
    accepted and ignored, as in PyTorch.

    Shape: any -> the same.

    >>> from deepwise import nn
    >>> import deepwise as dw
    >>> nn.Identity()(dw.ones(2)).tolist()
    [1.0, 1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """Fully connected layer: ``y = x @ W^T + b``.

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,) unless
    ``bias=False``. Initialised as PyTorch does (``reset_parameters``).

    Shape:
        Input: (..., in_features) - any number of leading dims.
        Output: (..., out_features).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> fc = nn.Linear(20, 30)
    >>> fc(dw.zeros(128, 20)).shape
    (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None, device: Any = None) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """He et al. (2015) uniform with ``a = sqrt(5)``, i.e. ``W ~ U(-1/sqrt(in), 1/sqrt(in))``,
        and ``b ~ U(-1/sqrt(in), 1/sqrt(in))``: PyTorch's default (LeCun-style scale)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if not shape or shape[-1] != self.in_features:
            raise ShapeError(f"expected input (..., {self.in_features}), got {shape}")
        return _linalg.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")

    def short_repr(self) -> str:
        return f"Linear {self.in_features}->{self.out_features}"


def _dim(d: int, ndim: int, what: str, shape: tuple) -> int:
    if not -ndim <= d < ndim:
        raise ShapeError(f"{what}: dim {d} is out of range for an input of shape {shape}")
    return d % ndim


class Flatten(Module):
    """Flatten the dims ``start_dim..end_dim`` into one (default: all but the batch dim).

    Shape: (N, *dims) -> (N, prod(dims)) with the defaults.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Flatten()(dw.zeros(32, 1, 5, 5)).shape
    (32, 25)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if not shape:
            return _shape.reshape(x, (1,))
        s = _dim(self.start_dim, len(shape), "Flatten", shape)
        e = _dim(self.end_dim, len(shape), "Flatten", shape)
        if s > e:
            raise ShapeError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for an input of shape {shape}")
        return _shape.reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (the inverse of Flatten; one size may be -1).

    Shape: (N, C*H*W) -> (N, C, H, W) for ``Unflatten(1, (C, H, W))``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Unflatten(1, (2, 5))(dw.zeros(3, 10)).shape
    (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{type(unflattened_size).__name__}")
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        d = _dim(self.dim, len(shape), "Unflatten", shape)
        sizes = list(self.unflattened_size)
        known = math.prod(s for s in sizes if s != -1)
        if sizes.count(-1) == 1 and known and shape[d] % known == 0:
            sizes[sizes.index(-1)] = shape[d] // known
        if math.prod(sizes) != shape[d] or -1 in sizes:
            raise ShapeError(f"Unflatten: dim {self.dim} of size {shape[d]} (input {shape}) "
                             f"cannot be split into {self.unflattened_size}")
        return _shape.reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
