"""Random tensors, drawn from deepwise's one generator (``deepwise.manual_seed`` repeats them).

``device="cuda"``: the numbers are drawn on the host and copied (deepwise's one rule for random
draws, see ``deepwise.backend``), so a seed gives the same tensor on every device."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend
from .tensor import Tensor, _finish, _shape_arg


def _float(dtype: Any) -> np.dtype:
    dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"expected a floating dtype, got {dt}")
    return dt


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1): ``rand(2, 3)``."""
    gen = backend.default_generator()
    dt = _float(dtype)
    return _finish(gen.random(_shape_arg(size), dtype=np.float64).astype(dt, copy=False)
                   if dt == np.float16 else gen.random(_shape_arg(size), dtype=dt), requires_grad,
                   device, "rand")


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples: ``randn(2, 3)``."""
    gen = backend.default_generator()
    dt = _float(dtype)
    arr = gen.standard_normal(_shape_arg(size), dtype=dt if dt != np.float16 else np.float32)
    return _finish(arr.astype(dt, copy=False), requires_grad, device, "randn")


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None,
            device: Any = None) -> Tensor:
    """Integers in [low, high) (or [0, low) when ``high`` is omitted), int64 by default."""
    if high is None:
        low, high = 0, low
    gen = backend.default_generator()
    return _finish(gen.integers(low, high, size=_shape_arg((size,)),
                                dtype=np.dtype(dtype or np.int64)), False, device, "randint")


def randperm(n: int, dtype: Any = None, device: Any = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    return _finish(backend.default_generator().permutation(n).astype(dtype or np.int64), False,
                   device, "randperm")


def rand_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """U[0, 1) samples of ``t``'s shape, dtype and device (unless given)."""
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """N(0, 1) samples of ``t``'s shape, dtype and device (unless given)."""
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def normal(mean: float, std: float, size: Any, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and standard deviation."""
    arr = backend.default_generator().normal(mean, std, _shape_arg((size,)))
    return _finish(arr.astype(_float(dtype)), requires_grad, device, "normal")
