"""Normalisation: batch_norm, layer_norm, group_norm, and dropout2d (whole-channel dropout).

Each normalisation is ``xhat = (x - mean) / sqrt(var + eps)`` over some axes, then a
per-feature affine ``y = xhat * weight + bias``. Its backward is fused in closed form: with
``dxhat = g * weight`` and means taken over the normalised axes,

    dL/dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)

(one pass instead of backpropagating through mean, var, sqrt and divide as separate ops), and
dL/dweight = sum(g * xhat), dL/dbias = sum(g) over every axis but the feature axis.

* batch_norm: statistics per channel (dim 1) over the batch and spatial axes while training,
  which also updates the running statistics in place (the variance unbiased, as PyTorch);
  in eval it is the per-channel affine map with the running statistics.
* layer_norm: statistics per sample over the last ``len(normalized_shape)`` axes.
* group_norm: statistics per sample and per group of C / num_groups channels.

>>> x = deepwise.randn(8, 16, 5, 5)
>>> batch_norm(x, deepwise.zeros(16), deepwise.ones(16), training=True).shape
(8, 16, 5, 5)
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function, ShapeError
from ..backend import default_generator
from ..tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "dropout2d"]

TENSOR_METHODS: tuple[str, ...] = ()


def _raw(t: Any) -> Any:
    return t.data if isinstance(t, Tensor) else t


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector shaped (1, C, 1, ...) to broadcast over (N, C, *)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _normalize(x: np.ndarray, axes: tuple, eps: float) -> tuple:
    """(xhat, mean, biased var, 1/sqrt(var + eps)) over ``axes`` (kept as size-1 axes)."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = np.mean(np.square(xc), axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    xc *= invstd
    return xc, mean, var, invstd


def _normalize_backward(dxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray,
                        axes: tuple) -> np.ndarray:
    """dL/dx of xhat = (x - mean) * invstd, from dL/dxhat (the closed form above)."""
    dx = dxhat - dxhat.mean(axis=axes, keepdims=True)
    dx -= xhat * np.mean(dxhat * xhat, axis=axes, keepdims=True)
    dx *= invstd
    return dx


def _check_vec(op: str, v: Any, n: int, what: str, xshape: tuple) -> None:
    if v is not None and tuple(v.shape) != (n,):
        raise ShapeError(f"{op}: expected {what} of shape ({n},) for input {xshape}, got "
                         f"{tuple(v.shape)}")


class BatchNorm(Function):
    """y = (x - mean_c) / sqrt(var_c + eps) * w_c + b_c;  dL/dx = w_c * invstd_c * (g - mean(g)
    - xhat * mean(g * xhat)) in training (batch statistics), w_c * invstd_c * g in eval."""

    def forward(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                running: tuple, training: bool, momentum: float, eps: float) -> np.ndarray:
        axes = (0,) + tuple(range(2, x.ndim))
        rm, rv = running
        if training:
            xhat, mean, var, invstd = _normalize(x, axes, eps)
            n = x.size // x.shape[1]
            if rm is not None:
                rm *= 1 - momentum
                rm += momentum * mean.reshape(-1).astype(rm.dtype)
            if rv is not None:
                rv *= 1 - momentum
                rv += (momentum * n / max(n - 1, 1)) * var.reshape(-1).astype(rv.dtype)
        else:
            invstd = _per_channel(1.0 / np.sqrt(rv + eps), x.ndim).astype(x.dtype)
            xhat = (x - _per_channel(rm, x.ndim).astype(x.dtype)) * invstd
        self.xhat, self.invstd, self.w, self.axes, self.training = xhat, invstd, w, axes, training
        y = xhat * _per_channel(w, x.ndim) if w is not None else xhat.copy()
        if b is not None:
            y += _per_channel(b, x.ndim)
        return y

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        xhat, w, axes = self.xhat, self.w, self.axes
        dxhat = g * _per_channel(w, g.ndim) if w is not None else g
        dx = None
        if nx:
            if self.training:
                dx = _normalize_backward(dxhat, xhat, self.invstd, axes)
            else:
                dx = dxhat * self.invstd
        dw = (g * xhat).sum(axis=axes) if nw else None
        db = g.sum(axis=axes) if nb else None
        return dx, dw, db


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over dim 1 of (N, C), (N, C, L) or (N, C, H, W).

    training: normalise with the batch's statistics (over all axes but 1) and update
    running_mean / running_var in place: r = (1 - momentum) * r + momentum * batch_stat, with
    the unbiased batch variance. Otherwise normalise with the running statistics.
    """
    op = "batch_norm"
    xs = tuple(input.shape)
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected input (N, C, *), got {xs}")
    c = xs[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_vec(op, v, c, what, xs)
    if training and int(np.prod(xs)) // c <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input "
                         f"{xs}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: running_mean and running_var are needed when not training")
    return BatchNorm.apply(input, weight, bias,
                           running=(_raw(running_mean), _raw(running_var)),
                           training=bool(training), momentum=float(momentum), eps=float(eps))


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over the trailing axes;  dL/dx = invstd *
    (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w."""

    def forward(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                k: int, eps: float) -> np.ndarray:
        self.axes = tuple(range(x.ndim - k, x.ndim))
        self.xhat, _, _, self.invstd = _normalize(x, self.axes, eps)
        self.w = w
        y = self.xhat * w if w is not None else self.xhat.copy()
        if b is not None:
            y += b
        return y

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        lead = tuple(range(g.ndim - len(self.axes)))
        dx = dw = db = None
        if nx:
            dxhat = g * self.w if self.w is not None else g
            dx = _normalize_backward(dxhat, self.xhat, self.invstd, self.axes)
        if nw:
            dw = (g * self.xhat).sum(axis=lead)
        if nb:
            db = g.sum(axis=lead)
        return dx, dw, db


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` axes of each sample.

    input (*, *normalized_shape); weight and bias have shape normalized_shape.
    """
    op = "layer_norm"
    ns = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
          else tuple(int(n) for n in normalized_shape))
    xs = tuple(input.shape)
    if not ns or xs[len(xs) - len(ns):] != ns or len(ns) > len(xs):
        raise ShapeError(f"{op}: expected input (*, {', '.join(map(str, ns))}) ending in "
                         f"normalized_shape {ns}, got {xs}")
    for v, what in ((weight, "weight"), (bias, "bias")):
        if v is not None and tuple(v.shape) != ns:
            raise ShapeError(f"{op}: expected {what} of shape {ns}, got {tuple(v.shape)}")
    return LayerNorm.apply(input, weight, bias, k=len(ns), eps=float(eps))


class GroupNorm(Function):
    """y = xhat * w_c + b_c, xhat normalised per (sample, group of channels);  dL/dx as
    layer_norm's on the (N, G, C/G * spatial) view, with dxhat = g * w_c."""

    def forward(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                groups: int, eps: float) -> np.ndarray:
        self.shape, self.w = x.shape, w
        xhat, _, _, self.invstd = _normalize(x.reshape(x.shape[0], groups, -1), (2,), eps)
        self.xhat = xhat.reshape(x.shape)
        y = self.xhat * _per_channel(w, x.ndim) if w is not None else self.xhat.copy()
        if b is not None:
            y += _per_channel(b, x.ndim)
        return y

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        axes = (0,) + tuple(range(2, g.ndim))
        dx = dw = db = None
        if nx:
            dxhat = g * _per_channel(self.w, g.ndim) if self.w is not None else g
            n, groups = self.shape[0], self.invstd.shape[1]
            dx = _normalize_backward(dxhat.reshape(n, groups, -1),
                                     self.xhat.reshape(n, groups, -1), self.invstd, (2,))
            dx = dx.reshape(self.shape)
        if nw:
            dw = (g * self.xhat).sum(axis=axes)
        if nb:
            db = g.sum(axis=axes)
        return dx, dw, db


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation: (N, C, *) with statistics per sample over each group of
    C / num_groups channels (and all spatial positions); weight and bias are (C,)."""
    op = "group_norm"
    xs = tuple(input.shape)
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected input (N, C, *), got {xs}")
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or xs[1] % num_groups:
        raise ShapeError(f"{op}: num_groups {num_groups!r} must divide the {xs[1]} channels of "
                         f"input {xs}")
    for v, what in ((weight, "weight"), (bias, "bias")):
        _check_vec(op, v, xs[1], what, xs)
    if int(np.prod(xs)) // xs[1] * (xs[1] // num_groups) == 1:  # PyTorch's check
        raise ValueError(f"{op}: expected more than 1 value per group, got input {xs} with "
                         f"{num_groups} groups")
    return GroupNorm.apply(input, weight, bias, groups=int(num_groups), eps=float(eps))


class Dropout2d(Function):
    """y = x * mask_{n,c} / (1 - p), one Bernoulli(1 - p) draw per channel;  dL/dx = g * the
    same scaled mask."""

    def forward(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.mask = mask
        return x * mask

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.mask


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels: each (sample, channel) plane of (N, C, H, W) is dropped with
    probability p and the kept ones scaled by 1 / (1 - p). A 3-d input is taken as (N, C, L),
    as PyTorch does. The mask is drawn from deepwise's generator (``manual_seed``). ``inplace``
    is accepted for PyTorch compatibility; the result is always a new tensor."""
    op = "dropout2d"
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be between 0 and 1, got {p}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected input (N, C, H, W) or (N, C, L), got "
                         f"{tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if p == 1.0:
        mask = np.zeros(shape, input.dtype)
    else:
        keep = default_generator().random(shape) >= p
        mask = (keep / (1.0 - p)).astype(input.dtype)
    return Dropout2d.apply(input, mask=mask)
