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

import functools
from typing import Any

import numpy as np

from .. import kernels
from ..autograd import Function, ShapeError
from ..backend import default_generator, get_array_module, on_device_of
from ..kernels import norm as knorm
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
    xp = get_array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = _dot_over(xc, xc, axes) / (x.size // max(mean.size, 1))
    invstd = 1.0 / xp.sqrt(var + eps)
    xc *= invstd
    return xc, mean, var, invstd


def _normalize_backward(dxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray,
                        axes: tuple) -> np.ndarray:
    """dL/dx of xhat = (x - mean) * invstd, from dL/dxhat (the closed form above)."""
    mean = dxhat.mean(axis=axes, keepdims=True)
    dx = xhat * (_dot_over(dxhat, xhat, axes) / (dxhat.size // max(mean.size, 1)))
    get_array_module(dx).subtract(dxhat, dx, out=dx)
    dx -= mean
    dx *= invstd
    return dx


def _dot_over(a: np.ndarray, b: np.ndarray, axes: tuple) -> np.ndarray:
    """sum(a * b) over ``axes``, kept as size-1 axes, without the product array (einsum)."""
    shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    return get_array_module(a, b).einsum(_dot_subscripts(a.ndim, axes), a, b).reshape(shape)


@functools.lru_cache(maxsize=64)
def _dot_subscripts(ndim: int, axes: tuple) -> str:
    ix = "abcdefghijklmnopqrstuvwxyz"[:ndim]
    return f"{ix},{ix}->" + "".join(c for i, c in enumerate(ix) if i not in axes)


def _check_vec(op: str, v: Any, n: int, what: str, xshape: tuple) -> None:
    if v is not None and tuple(v.shape) != (n,):
        raise ShapeError(f"{op}: expected {what} of shape ({n},) for input {xshape}, got "
                         f"{tuple(v.shape)}")


def _channel_rows(a: Any) -> Any:
    """``a`` (N, C, *) as an (M, C) view when each sample's channels are adjacent in memory (a
    C-contiguous (N, C) batch, or conv2d's NCHW-shaped output in NHWC memory), else None."""
    last = a if a.ndim == 2 else a.transpose((0,) + tuple(range(2, a.ndim)) + (1,))
    return last.reshape(-1, a.shape[1]) if last.flags.c_contiguous else None


def _wide(rows: Any) -> tuple:
    """(M, C) rows as the (M / k, k * C) view of the same memory, k the largest divisor of M with
    k * C <= 2048: NumPy's loops over a (C,) vector broadcast along short rows of C values pay
    their per-row overhead k times less (x * s + t on conv1's (100352, 32): 12 -> 7 ms)."""
    m, c = rows.shape
    k = _wide_factor(m, c) if m * c >= 1 << 14 else 1  # small: not worth the tiled vectors
    return (rows.reshape(m // k, k * c), k) if k > 1 else (rows, 1)


@functools.lru_cache(maxsize=256)
def _wide_factor(m: int, c: int) -> int:
    return max(d for d in range(1, max(2048 // c, 1) + 1) if m % d == 0)


def _tiled(v: Any, k: int) -> Any:
    """A (C,) vector repeated k times, for the wide rows: (k * C,)."""
    return v if k == 1 else get_array_module(v).broadcast_to(v, (k, v.size)).reshape(-1)


def _fold(partial: Any, k: int) -> Any:
    """(k * C,) per-column sums of the wide rows summed into (C,)."""
    return partial if k == 1 else partial.reshape(k, -1).sum(axis=0)


def _channel_sum(a: Any, rows: Any) -> Any:
    """Sum of (N, C, *) ``a`` over every axis but 1: (C,). ``rows``: its (M, C) view or None;
    with rows, one GEMV (ones @ the wide rows), then the k partial sums per channel."""
    if rows is None:
        return a.sum(axis=_not_c(a))
    xp = get_array_module(a)
    wide, k = _wide(rows)
    return _fold(xp.ones(wide.shape[0], a.dtype) @ wide, k)


def _channel_dot(a: Any, b: Any, ra: Any, rb: Any) -> Any:
    """Sum of a * b over every axis but 1, without the product array: (C,)."""
    xp = get_array_module(a, b)
    if ra is not None and rb is not None:
        (wa, k), (wb, _) = _wide(ra), _wide(rb)
        return _fold(xp.einsum("mc,mc->c", wa, wb), k)
    s = "nc" + "hwdlk"[:a.ndim - 2]
    return xp.einsum(f"{s},{s}->c", a, b)


def _not_c(a: Any) -> tuple:
    return (0,) + tuple(range(2, a.ndim))


def _affine_c(a: Any, rows: Any, scale: Any, shift: Any = None, a2: Any = None,
              rows2: Any = None, scale2: Any = None) -> Any:
    """a * scale_c (+ shift_c) (+ a2 * scale2_c) for per-channel (C,) vectors, one pass each over
    a's memory order (its wide (M / k, k * C) rows when a, and a2 if given, have (M, C) rows); the
    result has a's shape and layout."""
    if rows is None or (a2 is not None and rows2 is None):
        out = a * _per_channel(scale, a.ndim)
        if shift is not None:
            out += _per_channel(shift, a.ndim)
        if a2 is not None:
            out += a2 * _per_channel(scale2, a.ndim)
        return out
    wide, k = _wide(rows)
    out = wide * _tiled(scale, k)
    if shift is not None:
        out += _tiled(shift, k)
    if a2 is not None:
        out += _wide(rows2)[0] * _tiled(scale2, k)
    return _unrows(out, a)


def _unrows(out: Any, a: Any) -> Any:
    """An (M, C)-ordered result (any 2-d shape of that memory) as an array shaped like a."""
    if a.ndim == 2:
        return out.reshape(a.shape)
    nhwc = (a.shape[0],) + a.shape[2:] + (a.shape[1],)
    return out.reshape(nhwc).transpose((0, a.ndim - 1) + tuple(range(1, a.ndim - 1)))


class BatchNorm(Function):
    """y = (x - mean_c) * invstd_c * w_c + b_c, invstd = 1 / sqrt(var_c + eps).

    Training (batch statistics over the M = N * H * W values of each channel), with
    xhat = (x - mean) * invstd:  dL/db = sum g,  dL/dw = sum g * xhat,
    dL/dx = w_c * invstd_c * (g - sum(g) / M - xhat * (dL/dw) / M).
    Eval (running statistics, constants):  dL/dx = g * w_c * invstd_c.

    Computed as per-channel coefficients, so neither xhat nor any product array is stored or
    built: forward y = x * s_c + t_c (s = w * invstd, t = b - mean * s); backward from the two
    channel sums sum(g) and sum(g * x) (a GEMV and an ``einsum``, no temporary),
    dL/dx = a_c * g + b_c * x + c_c. The variance is E[x^2] - mean^2 (one pass); where some
    channel's |mean| exceeds 10 standard deviations, both that and x * s + t would cancel float32
    digits, so the op then works on the centred x - mean instead (kept for backward). When
    channels are adjacent in memory (conv2d's output) the passes run over the wide (M / k, k * C)
    rows. With deepwise.kernels on, ``_forward_kernel`` / ``_backward_kernel`` compute the same
    in two compiled passes each (float64 sums; no centring needed).
    """

    def forward(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                running: tuple, training: bool, momentum: float, eps: float) -> np.ndarray:
        xp = get_array_module(x)
        c = x.shape[1]
        m = x.size // c
        rows = _channel_rows(x)
        rm, rv = running
        self.view = _kernel_view(x, rows)
        if self.view is not None:
            return self._forward_kernel(x, w, b, running, training, momentum, eps)
        if training:
            mean = _channel_sum(x, rows) / m
            var = _channel_dot(x, x, rows, rows) / m - mean * mean
        else:
            mean, var = rm.astype(x.dtype), rv.astype(x.dtype)
        if bool((var < 1e-2 * mean * mean).any()):
            # |mean| > 10 std somewhere: E[x^2] - mean^2 and x * s + t would cancel away
            # float32 digits, so normalise the centred x - mean (two passes, as the textbook)
            x = x - _per_channel(mean, x.ndim)
            rows = _channel_rows(x)
            if training:  # the corrected two-pass form: the mean's own rounding removed too
                resid = _channel_sum(x, rows) / m
                x -= _per_channel(resid, x.ndim)
                mean += resid
                var = _channel_dot(x, x, rows, rows) / m
            mean, centred = xp.zeros_like(mean), mean
        else:
            centred = mean
        if training:
            xp.maximum(var, 0, out=var)
            _update_running(running, centred, var, m, momentum)
        invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
        scale = invstd * w if w is not None else invstd
        shift = -mean * scale
        if b is not None:
            shift += b
        self.x, self.mean, self.invstd, self.w, self.training = x, mean, invstd, w, training
        return _affine_c(x, rows, scale, shift)

    def backward(self, g: np.ndarray) -> tuple:
        if self.view is not None:
            return self._backward_kernel(g)
        nx, nw, nb = self.needs_input_grad
        x, mean, invstd, w = self.x, self.mean, self.invstd, self.w
        m = x.size // x.shape[1]
        rg, rx = _channel_rows(g), _channel_rows(x)
        sg = _channel_sum(g, rg)
        dw = None  # sum g * xhat: for the weight, and for dx in training
        if nw or (nx and self.training):
            dw = invstd * (_channel_dot(g, x, rg, rx) - mean * sg)
        dx = None
        if nx:
            a = invstd * w if w is not None else invstd
            if self.training:
                bx = -a * invstd * dw / m
                dx = _affine_c(g, rg, a, -a * sg / m - bx * mean, x, rx, bx)
            else:
                dx = _affine_c(g, rg, a)
        return dx, dw if nw else None, sg if nb else None

    def _forward_kernel(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                        running: tuple, training: bool, momentum: float,
                        eps: float) -> np.ndarray:
        """Fast path (deepwise.kernels.norm): the channel sums of x - x_first and of its square
        in one pass (float64), then y = (x - mean_c) * (w_c * invstd_c) + b_c in a second, over
        x's memory order (the (M, C) rows or the (N, C, L) planes); saves x, not a copy."""
        v, c, m = self.view, x.shape[1], x.size // x.shape[1]
        rows = v.ndim == 2
        if training:
            k = (v[0] if rows else v[0, :, 0]).astype(np.float64)
            s, q = np.empty(c), np.empty(c)
            (knorm.stats_rows if rows else knorm.stats_planes)(v, k, s, q)
            d = s / m
            mean, var = k + d, np.maximum(q / m - d * d, 0.0)
            _update_running(running, mean, var, m, momentum)
        else:
            mean, var = (r.astype(np.float64) for r in running)
        invstd = 1.0 / np.sqrt(var + eps)
        scale = invstd * w if w is not None else invstd
        shift = b.astype(np.float64) if b is not None else np.zeros(c)
        out = np.empty(v.shape, x.dtype)
        (knorm.affine_rows if rows else knorm.affine_planes)(v, mean, scale, shift, out)
        self.x, self.mean, self.invstd, self.w, self.training = x, mean, invstd, w, training
        return _from_view(out, x)

    def _backward_kernel(self, g: np.ndarray) -> tuple:
        """Fast path: sum g and sum g * (x - mean) per channel in one pass (float64), then
        dL/dx = a_c * g + kx_c * (x - mean_c) + k0_c in a second (the closed form above, with
        a = w * invstd, kx = -a * invstd^2 * sum(g * (x - mean)) / M, k0 = -a * sum(g) / M)."""
        nx, nw, nb = self.needs_input_grad
        x, v, mean, invstd = self.x, self.view, self.mean, self.invstd
        c, m = x.shape[1], x.size // x.shape[1]
        rows = v.ndim == 2
        gv = _view_like(g, v)
        sg, sgx = np.empty(c), np.empty(c)
        (knorm.grad_sums_rows if rows else knorm.grad_sums_planes)(gv, v, mean, sg, sgx)
        dw = invstd * sgx  # sum g * xhat
        dx = None
        if nx:
            a = invstd * self.w if self.w is not None else invstd
            if self.training:
                kx, k0 = -a * invstd * dw / m, -a * sg / m
            else:
                kx, k0 = np.zeros(c), np.zeros(c)
            out = np.empty(v.shape, x.dtype)
            (knorm.grad_x_rows if rows else knorm.grad_x_planes)(gv, v, mean, a, kx, k0, out)
            dx = _from_view(out, x)
        return (dx, dw.astype(x.dtype) if nw else None, sg.astype(x.dtype) if nb else None)


def _kernel_view(x: Any, rows: Any) -> Any:
    """The array deepwise.kernels.norm loops over, when the kernels are on and x is float32 or
    float64: its (M, C) rows, else its (N, C, L) planes when x is C-contiguous; else None."""
    if not kernels.enabled(x) or x.dtype not in (np.float32, np.float64):
        return None
    if rows is not None:
        return rows
    return x.reshape(x.shape[0], x.shape[1], -1) if x.flags.c_contiguous else None


def _view_like(g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """g (N, C, *) as the kernel view v's layout: its rows or planes, copied only when g's memory
    is laid out otherwise."""
    if v.ndim == 3:
        return np.ascontiguousarray(g).reshape(v.shape)
    rows = _channel_rows(g)
    if rows is None:
        last = g if g.ndim == 2 else g.transpose((0,) + tuple(range(2, g.ndim)) + (1,))
        rows = np.ascontiguousarray(last).reshape(v.shape)
    return rows


def _from_view(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A kernel's output in x's view layout (rows or planes) as an array shaped like x."""
    return out.reshape(x.shape) if out.ndim == 3 else _unrows(out, x)


def _update_running(running: tuple, mean: Any, var: Any, m: int, momentum: float) -> None:
    """In place: r = (1 - momentum) * r + momentum * batch_stat, the variance unbiased."""
    rm, rv = running
    if rm is not None:
        rm *= 1 - momentum
        rm += momentum * mean.astype(rm.dtype)
    if rv is not None:
        rv *= 1 - momentum
        rv += (momentum * m / max(m - 1, 1)) * var.astype(rv.dtype)


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
        self.fast = (kernels.enabled(x) and x.dtype in (np.float32, np.float64)
                     and x.flags.c_contiguous and x.size > 0)
        if self.fast:
            return self._forward_kernel(x, w, b, eps)
        self.xhat, _, _, self.invstd = _normalize(x, self.axes, eps)
        self.w = w
        y = self.xhat * w if w is not None else self.xhat.copy()
        if b is not None:
            y += b
        return y

    def backward(self, g: np.ndarray) -> tuple:
        if self.fast:
            return self._backward_kernel(g)
        nx, nw, nb = self.needs_input_grad
        lead = tuple(range(g.ndim - len(self.axes)))
        dx = dw = db = None
        if nx:
            dxhat = g * self.w if self.w is not None else g
            dx = _normalize_backward(dxhat, self.xhat, self.invstd, self.axes)
        if nw:
            dw = _dot_over(g, self.xhat, lead).reshape(g.shape[len(lead):])
        if nb:
            db = g.sum(axis=lead)
        return dx, dw, db

    def _forward_kernel(self, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None,
                        eps: float) -> np.ndarray:
        """Fast path (deepwise.kernels.norm): per row of the (R, D) view, mean and invstd in
        float64 and y = (x - mean) * invstd * w + b, one read of x and one write of y; saves x
        and the (R,) mean and invstd, not xhat."""
        d = int(np.prod([x.shape[a] for a in self.axes]))
        rows = x.reshape(-1, d)
        self.mean, self.invstd = np.empty(rows.shape[0]), np.empty(rows.shape[0])
        self.w = w.reshape(d).astype(np.float64) if w is not None else np.ones(d)
        b64 = b.reshape(d).astype(np.float64) if b is not None else np.zeros(d)
        out = np.empty(rows.shape, x.dtype)
        knorm.layer_norm_forward(rows, self.w, b64, eps, out, self.mean, self.invstd)
        self.x = rows
        return out.reshape(x.shape)

    def _backward_kernel(self, g: np.ndarray) -> tuple:
        """Fast path: per row, the two sums of dxhat = g * w and dxhat * xhat and then dL/dx
        (the closed form above) while the row is in cache; dw, db summed over the rows
        alongside (float64)."""
        nx, nw, nb = self.needs_input_grad
        x, d = self.x, self.x.shape[1]
        dx = np.empty(x.shape, x.dtype)
        dw, db = np.empty(d), np.empty(d)
        knorm.layer_norm_backward(np.ascontiguousarray(g).reshape(x.shape), x, self.w,
                                  self.mean, self.invstd, dx, dw, db)
        wshape = g.shape[g.ndim - len(self.axes):]
        return (dx.reshape(g.shape) if nx else None,
                dw.astype(x.dtype).reshape(wshape) if nw else None,
                db.astype(x.dtype).reshape(wshape) if nb else None)


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
        dx = dw = db = None
        if nx:
            dxhat = g * _per_channel(self.w, g.ndim) if self.w is not None else g
            n, groups = self.shape[0], self.invstd.shape[1]
            dx = _normalize_backward(dxhat.reshape(n, groups, -1),
                                     self.xhat.reshape(n, groups, -1), self.invstd, (2,))
            dx = dx.reshape(self.shape)
        if nw:
            dw = _channel_dot(g, self.xhat, None, None)
        if nb:
            db = _channel_sum(g, _channel_rows(g))
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
        mask = np.zeros(shape, input.dtype)  # drawn (or made) on the host, then moved
    else:
        keep = default_generator().random(shape) >= p
        mask = (keep / (1.0 - p)).astype(input.dtype)
    return Dropout2d.apply(input, mask=on_device_of(mask, input.data))
