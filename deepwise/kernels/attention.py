"""Row-softmax kernels for scaled dot-product attention: a row at a time, in the cache, where
NumPy sweeps the whole score tensor five or six times (max, where, subtract, exp, sum, divide).

* forward: the raw scores ``q k^T`` become, in place, ``P = softmax(S * scale + bias)`` (a row
  with every key at ``-inf`` gives zeros): one kernel scales, adds the bias, takes the row max
  and shifts; NumPy's SIMD ``exp`` follows (numba's scalar exp measured 7x slower); a second
  kernel sums and divides each row. 32x4x32x32 float32 scores: 0.34 ms, NumPy path 1.0 ms.
* backward: ``dP`` becomes, in place, ``dS = (dP - sum_j dP * P) * P * scale`` in one pass
  (0.14 ms there).

The scores are the C-contiguous output of ``matmul`` with 2-4 dims; the bias is broadcast to
their shape (a view with zero strides, not a copy).
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["serves", "softmax_forward", "softmax_backward", "rows", "softmax_rows_forward",
           "softmax_rows_backward", "log_softmax_rows", "log_softmax_rows_backward"]


def serves(s: np.ndarray, bias: np.ndarray | None = None) -> bool:
    """True when the kernels take the scores ``s``: float32/float64 (numba has no float16),
    C-contiguous, 2-4 dims; and ``bias``, if given, has s's dtype and broadcasts to s's shape."""
    if s.dtype.kind != "f" or s.dtype.itemsize not in (4, 8) or not 2 <= s.ndim <= 4:
        return False
    if not s.flags.c_contiguous:
        return False
    if bias is None:
        return True
    if bias.dtype != s.dtype or bias.ndim > s.ndim:
        return False
    try:
        return np.broadcast_shapes(bias.shape, s.shape) == s.shape
    except ValueError:
        return False


def _as4(a: np.ndarray) -> np.ndarray:
    return a.reshape((1,) * (4 - a.ndim) + a.shape)


@jit
def _shift(s, b, scale, has_bias, zero, ninf, masked_zero):  # pragma: no cover - compiled
    n0, n1, n_l, n_s = s.shape
    for a in range(n0):
        for c in range(n1):
            for i in range(n_l):
                row = s[a, c, i]
                m = ninf
                for j in range(n_s):
                    x = row[j] * scale
                    if has_bias:
                        x = x + b[a, c, i, j]
                    row[j] = x
                    if x > m:
                        m = x
                if masked_zero and m == ninf:  # every key masked: exp(-inf - 0) = 0 everywhere
                    m = zero
                for j in range(n_s):
                    row[j] = row[j] - m


# the kernels below read C-contiguous arrays only: they loop over rows (n_rows, n_s)


def _rows2(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


@jit
def _normalise(s, zero):  # pragma: no cover - compiled
    n_r, n_s = s.shape
    for i in range(n_r):
        row = s[i]
        z = zero
        for j in range(n_s):
            z += row[j]
        if z == zero:  # an all-masked row stays 0
            continue
        for j in range(n_s):
            row[j] = row[j] / z


@jit
def _backward(d, p, scale, zero):  # pragma: no cover - compiled
    n_r, n_s = d.shape
    for i in range(n_r):
        dr = d[i]
        pr = p[i]
        t = zero
        for j in range(n_s):
            t += dr[j] * pr[j]
        for j in range(n_s):
            dr[j] = (dr[j] - t) * pr[j] * scale


def softmax_forward(s: np.ndarray, bias: np.ndarray | None, scale: float) -> np.ndarray:
    """s <- softmax(s * scale + bias) over the last axis, in place (all-``-inf`` rows: 0);
    returns s. Call only when ``serves(s, bias)``.

    Three sweeps: scale, bias, row max and shift in one kernel; NumPy's ``exp`` (SIMD, 7x
    faster than numba's scalar exp here); row sum and divide in a second kernel."""
    s4 = _as4(s)
    b4 = s4 if bias is None else _as4(np.broadcast_to(bias, s.shape))
    t = s.dtype.type
    _shift(s4, b4, t(scale), bias is not None, t(0), t(-np.inf), True)
    np.exp(s, out=s)
    _normalise(_rows2(s), t(0))
    return s


def softmax_backward(dp: np.ndarray, p: np.ndarray, scale: float) -> np.ndarray:
    """dp <- (dp - sum_j dp * p) * p * scale, row by row, in place; returns dp. Call only when
    ``serves(dp, p)`` and p has dp's shape and is C-contiguous."""
    t = dp.dtype.type
    _backward(_rows2(dp), _rows2(p), t(scale), t(0))
    return dp


# ---- the softmax / log_softmax ops over the last dim (no masks; an all -inf row gives NaN as in
# PyTorch and in the NumPy path)


SHORT_ROWS = 128  # forward kernels only up to this row length (see ``rows``)


def rows(x: np.ndarray, dim: int, forward: bool = False) -> bool:
    """True when the row kernels take x: float32/float64, C-contiguous, softmax over the last
    dim, at least one element; for the forward also rows of at most ``SHORT_ROWS``: on short
    rows NumPy's per-row reductions lose (float32 32 x 4 x 32 x 32: NumPy 1.1 ms, kernels
    0.36 ms), on long ones NumPy's SIMD max wins (640 x 512: 0.82 vs 1.16 ms; 640 x 6104: a
    tie or worse). 128 lies between the two measured sizes; it was not measured itself."""
    return (x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and x.flags.c_contiguous
            and dim == x.ndim - 1 and x.size > 0
            and (not forward or x.shape[-1] <= SHORT_ROWS))


def _rows4(a: np.ndarray) -> np.ndarray:
    return a.reshape(1, 1, -1, a.shape[-1])


@jit
def _logsub(y, e, zero):  # pragma: no cover - compiled
    n_r, n_s = y.shape
    for i in range(n_r):
        z = zero
        for j in range(n_s):
            z += e[i, j]
        lz = np.log(z)
        for j in range(n_s):
            y[i, j] = y[i, j] - lz


@jit
def _backward_into(g, p, d):  # pragma: no cover - compiled
    n_r, n_s = g.shape
    for i in range(n_r):
        t = g[i, 0] * 0
        for j in range(n_s):
            t += g[i, j] * p[i, j]
        for j in range(n_s):
            d[i, j] = (g[i, j] - t) * p[i, j]


@jit
def _log_backward(g, d):  # pragma: no cover - compiled
    n_r, n_s = g.shape
    for i in range(n_r):
        t = g[i, 0] * 0
        for j in range(n_s):
            t += g[i, j]
        for j in range(n_s):
            d[i, j] = g[i, j] - d[i, j] * t


def _shift_into(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    t = x.dtype.type
    _shift(_rows4(y), _rows4(y), t(1), False, t(0), t(-np.inf), False)  # y - max, in place
    return y


def softmax_rows_forward(x: np.ndarray) -> np.ndarray:
    """y = exp(x - max) / sum_j exp(x_j - max) over the last dim; x unchanged: a copy, the max
    and shift kernel, NumPy's exp, the sum and divide kernel. Call only when
    ``rows(x, x.ndim - 1)``."""
    y = _shift_into(x)
    np.exp(y, out=y)
    _normalise(_rows2(y), x.dtype.type(0))
    return y


def softmax_rows_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """dx = (g - sum_j g_j y_j) y in one pass; None unless g is C-contiguous with y's shape
    and dtype."""
    if g.shape != y.shape or g.dtype != y.dtype or not g.flags.c_contiguous:
        return None
    d = np.empty_like(y)
    _backward_into(_rows2(g), _rows2(y), _rows2(d))
    return d


def log_softmax_rows(x: np.ndarray) -> np.ndarray:
    """y = (x - max) - log sum_j exp(x_j - max) over the last dim; x unchanged. Call only when
    ``rows(x, x.ndim - 1)``."""
    y = _shift_into(x)
    _logsub(_rows2(y), _rows2(np.exp(y)), x.dtype.type(0))
    return y


def log_softmax_rows_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """dx = g - exp(y) sum_j g_j: NumPy's exp, then one pass; None unless g is C-contiguous with
    y's shape and dtype."""
    if g.shape != y.shape or g.dtype != y.dtype or not g.flags.c_contiguous:
        return None
    d = np.exp(y)
    _log_backward(_rows2(g), _rows2(d))
    return d
