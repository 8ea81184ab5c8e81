"""Reductions: sums, means, extrema and norms over dimensions; gradients spread back over them.

A reduction over ``dim`` turns a tensor of shape (2, 3, 4) with ``dim=1`` into (2, 4) (or
(2, 1, 4) with ``keepdim=True``). Its backward does the reverse: the output gradient gets the
reduced axes back (``np.expand_dims``) and is broadcast over them, times the local derivative -
1 for sum, 1/n for mean, a one-hot for max, the softmax for logsumexp.

``dim`` is an int, a tuple of ints, or None (and ``()``) for every axis, as in PyTorch.
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor
from .arith import cast, maximum, minimum

__all__ = [
    'sum', 'mean', 'var', 'std', 'max', 'min', 'amax', 'amin', 'argmax', 'argmin', 'logsumexp',
    'prod', 'norm', 'cumsum',
]

TENSOR_METHODS = ("sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
                  "logsumexp", "prod", "norm", "cumsum")
__all__ += ["allclose", "isclose", "equal", "bincount"]
TENSOR_METHODS += ("allclose", "isclose", "equal", "bincount")

# what x.max(dim) returns, as torch.return_types.max: fields ``values`` and ``indices``
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _dims(op: str, dim: Any, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """``dim`` as a tuple of non-negative axes; None means every axis (also for a 0-d tensor).

    Raises ShapeError for an axis out of range or named twice.
    """
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        dims: tuple = (dim,)
    elif isinstance(dim, (tuple, list)):
        dims = tuple(dim)
    else:
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    n = len(shape)
    lim = builtins.max(n, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    axes: list[int] = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -lim <= d < lim:
            raise ShapeError(f"{op}: dim {d} is out of range for a tensor of shape {shape} "
                             f"(expected a dim in [{-lim}, {lim - 1}])")
        d = int(d) % lim
        if d in axes:
            raise ShapeError(f"{op}: dim {d} appears more than once in dim={dim!r} "
                             f"(tensor of shape {shape})")
        axes.append(d)
    return tuple(axes) if axes and n else None


def _dim1(op: str, dim: Any, shape: tuple[int, ...]) -> int | None:
    """One axis (an int is required); None for a 0-d tensor."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    axes = _dims(op, dim, shape)
    return None if axes is None else axes[0]


def _expand(g: np.ndarray, axes: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    """Put the reduced axes back into an output gradient so that it broadcasts over the input."""
    xp = get_array_module(g, axes, keepdim)
    return g if keepdim or axes is None else xp.expand_dims(g, axes)


def _squeeze(y: np.ndarray, axes: tuple[int, ...] | None) -> np.ndarray:
    """Drop the reduced axes of a result computed with keepdims=True."""
    return y.reshape(()) if axes is None else y.squeeze(axes)


def _int_to_long(x: Tensor, dtype: Any) -> Any:
    """PyTorch's rule for sum/prod/cumsum: integer and bool inputs accumulate in int64."""
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.int64) if x.dtype.kind in "biu" else None


def _need_float(op: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype} (convert it with "
                        ".float() first)")


# ---- sum, mean ------------------------------------------------------------------------------


class Sum(Function):
    """y = sum_i x_i over dims;  dy/dx_i = 1 (the gradient is broadcast back over the dims)."""

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False,
                dtype: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        self.shape, self.dtype, self.axes, self.keepdim = x.shape, x.dtype, axes, keepdim
        return xp.asarray(x.sum(axis=axes, keepdims=keepdim, dtype=dtype))

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        g = _expand(g, self.axes, self.keepdim).astype(self.dtype, copy=False)
        return xp.broadcast_to(g, self.shape)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001 - PyTorch's name
        dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all). Integer/bool inputs give int64.

    Shape: (2, 3, 4) with dim=1 -> (2, 4); keepdim=True -> (2, 1, 4). ``x.sum()`` -> ().
    """
    return Sum.apply(x, axes=_dims("sum", dim, x.shape), keepdim=keepdim,
                     dtype=_int_to_long(x, dtype))


class Mean(Function):
    """y = (1/n) sum_i x_i;  dy/dx_i = 1/n."""

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False,
                dtype: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        self.shape, self.dtype, self.axes, self.keepdim = x.shape, x.dtype, axes, keepdim
        out = xp.asarray(x.mean(axis=axes, keepdims=keepdim, dtype=dtype))
        self.n = x.size // builtins.max(out.size, 1) if x.size else 1
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        g = _expand(g, self.axes, self.keepdim) / self.n
        return xp.broadcast_to(g.astype(self.dtype, copy=False), self.shape)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean over ``dim`` (an int, a tuple, or None for all). Shape: as :func:`sum`."""
    if dtype is None and x.dtype.kind != "f":
        raise TypeError(f"mean: could not infer the output dtype of a {x.dtype} tensor; use a "
                        "floating-point tensor (x.float().mean()) or pass dtype=")
    return Mean.apply(x, axes=_dims("mean", dim, x.shape), keepdim=keepdim,
                      dtype=None if dtype is None else np.dtype(dtype))


# ---- variance, standard deviation ----------------------------------------------------------


class Var(Function):
    """y = sum_i (x_i - mean)^2 / (n - c);  dy/dx_i = 2 (x_i - mean) / (n - c).

    ``c`` is the correction: 1 (Bessel's, the default) or 0 (the population variance).
    """

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False,
                correction: float = 1) -> np.ndarray:
        xp = get_array_module(x)
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        n = x.size // builtins.max(mu.size, 1)
        self.denom = builtins.max(n - correction, 0)  # <= 0 degrees of freedom: inf/nan, as torch
        self.d, self.axes, self.keepdim = d, axes, keepdim
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.asarray(xp.square(d).sum(axis=axes, keepdims=keepdim) / self.denom,
                              dtype=x.dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        scale = 2.0 / self.denom if self.denom else np.inf  # a Python float keeps g's dtype
        with np.errstate(invalid="ignore"):
            return self.d * (_expand(g, self.axes, self.keepdim) * scale)


class Std(Var):
    """y = sqrt(var(x));  dy/dx_i = (x_i - mean) / ((n - c) y)  (0 where y = 0, as in PyTorch)."""

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False,
                correction: float = 1) -> np.ndarray:
        xp = get_array_module(x)
        self.out = xp.sqrt(super().forward(x, axes, keepdim, correction))
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = xp.where(self.out == 0, 0, g / (self.denom * self.out)).astype(g.dtype)
        return self.d * _expand(scale, self.axes, self.keepdim)


def _correction(op: str, unbiased: Any, correction: Any) -> float:
    if unbiased is not None and correction is not None:
        raise ValueError(f"{op}: pass either unbiased= or correction=, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance over ``dim``: sum (x - mean)^2 / (n - correction); correction=1 unless
    ``unbiased=False`` or ``correction=`` says otherwise. ``x.var(False)`` is the population
    variance of all elements (PyTorch's legacy form). Shape: as :func:`sum`."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    _need_float("var", x)
    return Var.apply(x, axes=_dims("var", dim, x.shape), keepdim=keepdim,
                     correction=_correction("var", unbiased, correction))


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation over ``dim``: sqrt of :func:`var` (same arguments)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    _need_float("std", x)
    return Std.apply(x, axes=_dims("std", dim, x.shape), keepdim=keepdim,
                     correction=_correction("std", unbiased, correction))


# ---- extrema --------------------------------------------------------------------------------


class AMax(Function):
    """y = max_i x_i;  dy/dx_i = 1/k at the k positions that hold the max (ties share), else 0."""

    reduce = staticmethod(np.max)

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False) -> np.ndarray:
        out = self.reduce(x, axis=axes, keepdims=True)
        self.x, self.out, self.axes, self.keepdim = x, out, axes, keepdim
        return out if keepdim else _squeeze(out, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        hit = self.x == self.out
        count = hit.sum(axis=self.axes, keepdims=True)
        return hit * (_expand(g, self.axes, self.keepdim) / count).astype(g.dtype, copy=False)


class AMin(AMax):
    """y = min_i x_i;  dy/dx_i = 1/k at the k positions that hold the min (ties share), else 0."""

    reduce = staticmethod(np.min)


class TakeAlong(Function):
    """y = x at one index per slice along ``axis``;  dL/dx = dL/dy put back at that index, 0
    elsewhere. This is max/min with a dim: the gradient goes to the position in ``indices``."""

    def forward(self, x: np.ndarray, idx: np.ndarray, axis: int = 0,
                keepdim: bool = False) -> np.ndarray:
        xp = get_array_module(x, idx)
        self.shape, self.idx, self.axis, self.keepdim = x.shape, idx, axis, keepdim
        y = xp.take_along_axis(x, idx, axis)
        return y if keepdim else y.squeeze(axis)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        gx = xp.zeros(self.shape, g.dtype)
        xp.put_along_axis(gx, self.idx, _expand(g, (self.axis,), self.keepdim), self.axis)
        return gx, None


def _extreme(op: str, x: Tensor, dim: Any, keepdim: bool) -> Any:
    xp = get_array_module(op, x, dim, keepdim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}: keepdim=True needs a dim (use amax/amin to keep all dims)")
        return (AMax if op == "max" else AMin).apply(x)
    if isinstance(dim, (Tensor, np.ndarray)):  # torch.max(input, other): element-wise
        return (maximum if op == "max" else minimum)(x, dim)
    result = MaxResult if op == "max" else MinResult
    axis = _dim1(op, dim, x.shape)
    if axis is None:  # a 0-d tensor: the value itself, index 0
        return result(AMax.apply(x), Tensor._make(xp.zeros((), np.int64)))
    arg = xp.argmax if op == "max" else xp.argmin
    idx = xp.expand_dims(arg(x.data, axis=axis), axis).astype(np.int64, copy=False)
    values = TakeAlong.apply(x, idx, axis=axis, keepdim=keepdim)
    return result(values, Tensor._make(idx if keepdim else idx.squeeze(axis)))


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001 - PyTorch's name
    """``x.max()``: the largest element (a 0-d tensor; ties share the gradient).
    ``x.max(dim, keepdim)``: a named tuple ``(values, indices)``; the gradient goes to the index
    (the first maximum). ``max(x, other)``: the element-wise maximum.

    Shape: (2, 3) with dim=1 -> values (2,), indices (2,) int64.
    """
    return _extreme("max", x, dim, keepdim)


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001 - PyTorch's name
    """``x.min()``, ``x.min(dim, keepdim)`` -> ``(values, indices)``, ``min(x, other)``: as
    :func:`max`, for the smallest."""
    return _extreme("min", x, dim, keepdim)


def amax(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Largest element over ``dim`` (int, tuple; ``()`` for all); ties share the gradient."""
    return AMax.apply(x, axes=_dims("amax", dim, x.shape), keepdim=keepdim)


def amin(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Smallest element over ``dim`` (int, tuple; ``()`` for all); ties share the gradient."""
    return AMin.apply(x, axes=_dims("amin", dim, x.shape), keepdim=keepdim)


def _arg(op: str, f: Any, x: Tensor, dim: Any, keepdim: bool) -> Tensor:
    xp = get_array_module(op, f, x, dim, keepdim)
    if dim is None:
        i = xp.asarray(f(x.data), np.int64)
        return Tensor._make(i.reshape((1,) * x.ndim) if keepdim else i)
    axis = _dim1(op, dim, x.shape)
    if axis is None:
        return Tensor._make(xp.zeros((), np.int64))
    return Tensor._make(xp.asarray(f(x.data, axis=axis, keepdims=keepdim), np.int64))


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) largest element along ``dim``, int64; of the flattened tensor when
    ``dim`` is None. Not differentiable."""
    xp = get_array_module(x)
    return _arg("argmax", xp.argmax, x, dim, keepdim)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) smallest element along ``dim``, int64. Not differentiable."""
    xp = get_array_module(x)
    return _arg("argmin", xp.argmin, x, dim, keepdim)


# ---- logsumexp, prod, cumsum ----------------------------------------------------------------


class LogSumExp(Function):
    """y = log sum_i exp(x_i) = m + log sum_i exp(x_i - m), m = max x;  dy/dx_i = softmax(x)_i.

    Subtracting the max keeps exp from overflowing: every exp(x_i - m) is in (0, 1].
    """

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False) -> np.ndarray:
        xp = get_array_module(x)
        m = xp.max(x, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype)  # all -inf (or an inf): no shift
        e = xp.exp(x - m)
        s = e.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            out = xp.log(s) + m
        self.e, self.s, self.axes, self.keepdim = e, s, axes, keepdim
        return out if keepdim else _squeeze(out, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return self.e * (_expand(g, self.axes, self.keepdim) / self.s)


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim`` (int or tuple), computed without overflow.

    Shape: (N, C) with dim=1 -> (N,). Integer inputs are converted to the default float dtype.
    """
    if x.dtype.kind != "f":
        from ..backend import get_default_dtype
        x = cast(x, get_default_dtype())
    return LogSumExp.apply(x, axes=_dims("logsumexp", dim, x.shape), keepdim=keepdim)


class Prod(Function):
    """y = prod_i x_i;  dy/dx_i = prod_{j != i} x_j  (= y / x_i when no x_j is 0).

    With zeros: one zero in a slice gets the product of the others, the rest 0; two or more
    zeros make every derivative 0. No division by zero happens.
    """

    def forward(self, x: np.ndarray, axes: Any = None, keepdim: bool = False,
                dtype: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        out = xp.prod(x, axis=axes, keepdims=True, dtype=dtype)
        self.x, self.out, self.axes, self.keepdim = x, out, axes, keepdim
        return out if keepdim else _squeeze(out, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        x, axes = self.x, self.axes
        g = _expand(g, axes, self.keepdim)
        zero = x == 0
        if not zero.any():
            return (g * self.out / x).astype(x.dtype, copy=False)
        nonzero = xp.where(zero, xp.ones((), x.dtype), x)
        others = xp.prod(nonzero, axis=axes, keepdims=True)  # product of the non-zero entries
        nzeros = zero.sum(axis=axes, keepdims=True)
        d = xp.where(nzeros == 0, others / nonzero, xp.where(zero & (nzeros == 1), others, 0))
        return (g * d).astype(x.dtype, copy=False)


def prod(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Product over ``dim`` (int, tuple, or None for all). Integer/bool inputs give int64.

    Shape: as :func:`sum`. The gradient is exact with zeros in the input.
    """
    return Prod.apply(x, axes=_dims("prod", dim, x.shape), keepdim=keepdim,
                      dtype=_int_to_long(x, dtype))


class CumSum(Function):
    """y_i = sum_{j<=i} x_j along ``axis``;  dL/dx_j = sum_{i>=j} dL/dy_i (a reversed cumsum)."""

    def forward(self, x: np.ndarray, axis: int = 0, dtype: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        self.axis, self.dtype = axis, x.dtype
        return xp.cumsum(x, axis=axis, dtype=dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        rev = xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis)
        return rev.astype(self.dtype, copy=False)


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``: [1, 2, 3] -> [1, 3, 6]. Shape: unchanged."""
    axis = _dim1("cumsum", dim, x.shape)
    if axis is None:  # 0-d: the running sum of one element is itself
        return Sum.apply(x, dtype=_int_to_long(x, dtype))
    return CumSum.apply(x, axis=axis, dtype=_int_to_long(x, dtype))


# ---- norms ----------------------------------------------------------------------------------


class Norm(Function):
    """y = (sum_i |x_i|^p)^(1/p);  dy/dx_i = sign(x_i) |x_i|^(p-1) / y^(p-1)  (p=2: x_i / y).

    p=inf: y = max |x_i|, the gradient sign(x_i) goes to the maxima (ties share); p=-inf: the
    minima; p=0 counts the non-zeros (gradient 0). Where y = 0 the gradient is 0 (as PyTorch).
    """

    def forward(self, x: np.ndarray, p: float = 2.0, axes: Any = None,
                keepdim: bool = False) -> np.ndarray:
        xp = get_array_module(x)
        a = xp.abs(x)
        kw = {"axis": axes, "keepdims": True}
        if p == 2:
            out = xp.sqrt(xp.square(x).sum(**kw))
        elif p == 1:
            out = a.sum(**kw)
        elif p == np.inf:
            out = a.max(**kw)
        elif p == -np.inf:
            out = a.min(**kw)
        elif p == 0:
            out = (x != 0).sum(**kw).astype(x.dtype)
        else:
            with np.errstate(divide="ignore"):
                out = xp.power(xp.power(a, p).sum(**kw), 1.0 / p)
        self.x, self.p, self.out, self.axes, self.keepdim = x, p, out, axes, keepdim
        return out if keepdim else _squeeze(out, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        x, p, out = self.x, self.p, self.out
        g = _expand(g, self.axes, self.keepdim)
        if p == 0:
            return xp.zeros_like(x)
        if p == 1:
            return xp.sign(x) * g
        if p == 2:
            with np.errstate(divide="ignore", invalid="ignore"):
                return x * xp.where(out == 0, 0, g / out).astype(x.dtype)
        if p in (np.inf, -np.inf):
            hit = xp.abs(x) == out
            count = hit.sum(axis=self.axes, keepdims=True)
            return xp.sign(x) * hit * (g / count).astype(x.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = xp.sign(x) * xp.power(xp.abs(x) / out, p - 1)
        return xp.where((x == 0) | (out == 0), 0, d * g).astype(x.dtype)


class NuclearNorm(Function):
    """y = sum of the singular values of a matrix;  dy/dX = U V^T (from X = U S V^T).

    Computed over the last two axes (``norm`` moves the two ``dim`` axes there).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        u, s, vh = xp.linalg.svd(x, full_matrices=False)
        self.uvh = u @ vh
        return s.sum(-1).astype(x.dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return self.uvh * g[..., None, None]


def _nuclear(x: Tensor, dim: Any, keepdim: bool) -> Tensor:
    from .shape import permute, reshape
    axes = _dims("norm", (0, 1) if dim is None and x.ndim == 2 else dim, x.shape)
    if axes is None or len(axes) != 2:
        raise ShapeError(f"norm: p='nuc' needs a 2-D tensor or a 2-tuple dim, got dim={dim!r} "
                         f"for a tensor of shape {tuple(x.shape)}")
    rest = [d for d in range(x.ndim) if d not in axes]
    y = NuclearNorm.apply(permute(x, *rest, *axes))
    if keepdim:
        y = reshape(y, tuple(1 if d in axes else n for d, n in enumerate(x.shape)))
    return y


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """The p-norm over ``dim`` (all elements when None): p = 'fro' (the default; = 2), any
    number, inf (max |x|), -inf (min |x|), 0 (count of non-zeros), or 'nuc' (nuclear norm of
    the matrices over a 2-tuple ``dim``). Shape: as :func:`sum`.

    >>> norm(tensor([3.0, -4.0]))  # tensor(5.)
    """
    if dtype is not None:
        x = cast(x, dtype)
    _need_float("norm", x)
    if p == "nuc":
        return _nuclear(x, dim, keepdim)
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str) or isinstance(p, bool):
        raise ValueError(f"norm: p must be a number, inf, 'fro' or 'nuc', got {p!r}")
    return Norm.apply(x, p=float(p), axes=_dims("norm", dim, x.shape), keepdim=keepdim)


# ---- comparisons of whole tensors (no gradient) ---------------------------------------------


def _arr(v: Any) -> Any:
    xp = get_array_module(v)
    return v.data if isinstance(v, Tensor) else xp.asarray(v)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """``|a - b| <= atol + rtol * |b|`` elementwise (bool; shapes broadcast)."""
    xa, xb = _arr(a), _arr(b)
    xp = get_array_module(xa, xb)
    try:
        xp.broadcast_shapes(xa.shape, xb.shape)
    except ValueError:
        raise ShapeError(f"isclose: shapes {xa.shape} and {xb.shape} do not broadcast") from None
    return Tensor._make(xp.asarray(xp.isclose(xa, xb, rtol=rtol, atol=atol,
                                              equal_nan=equal_nan)))


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when every entry of ``a`` is close to ``b``'s (:func:`isclose`): a Python bool."""
    return bool(isclose(a, b, rtol, atol, equal_nan).data.all())


def equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` have the same shape and the same values (a Python bool)."""
    xa, xb = _arr(a), _arr(b)
    return xa.shape == xb.shape and bool(get_array_module(xa, xb).array_equal(xa, xb))


def bincount(x: Tensor, weights: Any = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer tensor ``x`` (or
    the sum of ``weights`` at each value): int64 (or the weights' dtype), length
    ``max(x) + 1`` or ``minlength``. Not differentiable."""
    xa = _arr(x)
    if xa.ndim != 1 or xa.dtype.kind not in "iu" or (xa.size and xa.min() < 0):
        raise ValueError(f"bincount: expected a 1-D tensor of non-negative integers, got "
                         f"{xa.dtype} of shape {xa.shape}")
    xp = get_array_module(xa)
    w = None if weights is None else _arr(weights)
    out = xp.bincount(xa, weights=w, minlength=int(minlength))
    return Tensor._make(out.astype(np.int64) if w is None else out.astype(w.dtype))
