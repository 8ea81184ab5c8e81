"""Resizing: ``interpolate`` (nearest, linear, bilinear) and its old name ``upsample``.

Both modes are separable, so the op is a 1-d resize applied to each spatial axis in turn:

* nearest: out[i] = x[src(i)] with src(i) = min(floor(i * scale), in - 1) - a gather;
* linear: out[i] = l0 * x[i0] + l1 * x[i1] with i0 = floor(src), i1 = min(i0 + 1, in - 1),
  l1 = src - i0 - two gathers and a lerp. src = (i + 0.5) * scale - 0.5 (clamped at 0), or
  i * (in - 1) / (out - 1) with align_corners.

The indices are sorted, so the backward (the adjoint: every g[i] goes back to the source rows
it was read from, times its weight) is ``np.add.reduceat`` over runs of equal indices - no
scatter-add; for nearest by an integer factor k, the sum of k strided views. Index arithmetic
follows PyTorch's CPU kernels (float32 for nearest; the input's float type for linear; scale =
1 / scale_factor when a scale_factor is given).

Shapes: input (N, C, L) (nearest, linear) or (N, C, H, W) (nearest, bilinear) -> the same with
the spatial sizes replaced by ``size`` or floor(in * scale_factor).
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["interpolate", "upsample"]

TENSOR_METHODS: tuple[str, ...] = ()


def _nearest(n_in: int, n_out: int, scale: float | None) -> tuple:
    """("nearest", source index of each output position (PyTorch's nearest_idx, in float32),
    k): k > 0 when the index is ``i // k`` (every row repeated k times), else 0."""
    xp = get_array_module(n_in, n_out, scale)
    i = xp.arange(n_out)
    if n_out == n_in:
        return ("nearest", i, 1)
    if n_out == 2 * n_in:
        return ("nearest", i >> 1, 2)
    s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    idx = xp.minimum(xp.floor(i.astype(np.float32) * s).astype(np.int64), n_in - 1)
    k = n_out // n_in if n_out % n_in == 0 else 0
    return ("nearest", idx, k if k and bool((idx == i // k).all()) else 0)


def _linear(n_in: int, n_out: int, scale: float | None, align_corners: bool,
            dtype: Any) -> tuple:
    """(i0, i1, l0, l1) of each output position (PyTorch's compute_source_index_and_lambda)."""
    xp = get_array_module(n_in, n_out, scale, align_corners, dtype)
    i = xp.arange(n_out)
    if n_out == n_in:
        one = xp.ones(n_out, dtype)
        return ("linear", i, i, one, one * 0)
    t = np.dtype(dtype).type
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * i.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = xp.maximum(ratio * (i.astype(dtype) + t(0.5)) - t(0.5), t(0))
    i0 = xp.minimum(xp.floor(src).astype(np.int64), n_in - 1)
    l1 = xp.clip(src - i0, 0, 1).astype(dtype)
    i1 = i0 + (i0 < n_in - 1)
    return ("linear", i0, i1, (1 - l1).astype(dtype), l1)


def _scatter_sum(g: np.ndarray, idx: np.ndarray, n: int, axis: int) -> np.ndarray:
    """out[..., j, ...] = sum of g[..., k, ...] over k with idx[k] == j (idx sorted)."""
    xp = get_array_module(g, idx, n, axis)
    uniq, starts = xp.unique(idx, return_index=True)
    sums = backend.add_reduceat(g, starts, axis=axis)
    if len(uniq) == n:
        return sums
    shape = list(g.shape)
    shape[axis] = n
    out = xp.zeros(shape, g.dtype)
    out[(slice(None),) * axis + (uniq,)] = sums
    return out


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A per-position weight shaped to broadcast along ``axis``."""
    return v.reshape((-1,) + (1,) * (ndim - 1 - axis))


class Interpolate(Function):
    """y = A x, one separable 1-d resize per spatial axis;  dL/dx = A^T g (reduceat sums)."""

    def forward(self, x: np.ndarray, plan: tuple) -> np.ndarray:
        xp = get_array_module(x)
        # the plan's index and weight arrays live where x does (made on the host, copied once)
        plan = tuple((axis, n, tuple(backend.on_device_of(v, x) if isinstance(v, np.ndarray)
                                     else v for v in step)) for axis, n, step in plan)
        self.plan = plan
        if not plan:
            return x.copy()
        for axis, _, step in plan:
            if step[0] == "nearest":
                x = xp.take(x, step[1], axis=axis)
            else:
                _, i0, i1, l0, l1 = step
                x = (xp.take(x, i0, axis=axis) * _along(l0, axis, x.ndim)
                     + xp.take(x, i1, axis=axis) * _along(l1, axis, x.ndim))
        return x

    def backward(self, g: np.ndarray) -> np.ndarray:
        for axis, n_in, step in reversed(self.plan):
            if step[0] == "nearest" and step[2]:
                # each input row was repeated k times: add the k strided views (a reduceat
                # over runs of k is ~10x slower on NCHW maps)
                k = step[2]
                if k > 1:
                    views = [g[(slice(None),) * axis + (slice(j, None, k),)] for j in range(k)]
                    g = views[0] + views[1]
                    for v in views[2:]:
                        g += v
            elif step[0] == "nearest":
                g = _scatter_sum(g, step[1], n_in, axis)
            else:
                _, i0, i1, l0, l1 = step
                g = (_scatter_sum(g * _along(l0, axis, g.ndim), i0, n_in, axis)
                     + _scatter_sum(g * _along(l1, axis, g.ndim), i1, n_in, axis))
        return g


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """Resize the spatial axes of (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``.

    mode: 'nearest' (3-d/4-d), 'linear' (3-d), 'bilinear' (4-d). align_corners (linear modes
    only, default False): map the corner pixels' centres onto each other.

    >>> interpolate(deepwise.randn(1, 3, 4, 4), scale_factor=2, mode='bilinear').shape
    (1, 3, 8, 8)
    """
    op = "interpolate"
    want = {"nearest": (3, 4), "linear": (3,), "bilinear": (4,)}
    if mode not in want:
        raise ValueError(f"{op}: mode must be one of {sorted(want)}, got {mode!r}")
    if input.ndim not in want[mode]:
        dims = {3: "(N, C, L)", 4: "(N, C, H, W)"}
        raise ShapeError(f"{op}: mode {mode!r} expects input "
                         f"{' or '.join(dims[d] for d in want[mode])}, got {tuple(input.shape)}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with the interpolating modes "
                         "'linear' and 'bilinear'")
    nd = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    in_sizes = tuple(input.shape[2:])
    if size is not None:
        out = (size,) * nd if isinstance(size, (int, np.integer)) else tuple(size)
        scales: tuple = (None,) * nd
    else:
        scales = ((scale_factor,) * nd if isinstance(scale_factor, (int, float, np.number))
                  else tuple(scale_factor))
        if len(scales) != nd or min(scales) <= 0:
            raise ValueError(f"{op}: scale_factor must be a positive number or {nd} of them, "
                             f"got {scale_factor!r}")
        out = tuple(math.floor(n * float(s)) for n, s in zip(in_sizes, scales))
        if recompute_scale_factor:
            scales = (None,) * nd
    if len(out) != nd or min(out) < 1:
        raise ShapeError(f"{op}: output size {out} is not {nd} positive sizes for input "
                         f"{tuple(input.shape)}")
    plan = []
    for k, (n_in, n_out, s) in enumerate(zip(in_sizes, out, scales)):
        if mode == "nearest":
            step = _nearest(n_in, n_out, s)
        else:
            step = _linear(n_in, n_out, s, bool(align_corners), input.dtype)
        if n_in != n_out:  # an unchanged axis is the identity in both modes
            plan.append((2 + k, n_in, step))
    return Interpolate.apply(input, plan=tuple(plan))


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """The old name of :func:`interpolate` (PyTorch keeps it, deprecated)."""
    return interpolate(input, size, scale_factor, mode, align_corners)
