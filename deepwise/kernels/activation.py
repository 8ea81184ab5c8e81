"""Element-wise kernels for the rectifiers and dropout: one pass where NumPy makes two or three.

They run over 1-D views of the arrays in memory order (``flat``), so an NCHW view of NHWC memory
(conv2d's output) is as fast as a contiguous array; the ops call them only when every array is
dense and all share one layout (else the NumPy path runs).
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["flat", "leaky_relu_forward", "leaky_relu_backward", "dropout_forward"]


def flat(a: np.ndarray, like: np.ndarray | None = None) -> np.ndarray | None:
    """The 1-D view of ``a`` in memory order when ``a`` is float32 / float64 (numba has no
    float16), dense (C-contiguous after permuting its axes) and, if given, has the layout
    (strides) of ``like``; else None."""
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        return None
    if like is not None and (a.shape != like.shape or a.strides != like.strides):
        return None
    if a.flags.c_contiguous:
        return a.reshape(-1)
    perm = np.argsort([-s for s in a.strides], kind="stable")
    t = a.transpose(perm)
    return t.reshape(-1) if t.flags.c_contiguous else None


@jit
def _leaky_forward(x, y, a):  # pragma: no cover - compiled
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * a


@jit
def _leaky_backward(g, s, dx, a):  # pragma: no cover - compiled
    for i in range(g.size):
        dx[i] = g[i] if s[i] > 0 else g[i] * a


@jit
def _dropout_forward(x, u, p, scale, mask, y):  # pragma: no cover - compiled
    for i in range(x.size):
        m = scale if u[i] >= p else scale * 0
        mask[i] = m
        y[i] = x[i] * m


def leaky_relu_forward(x: np.ndarray, a: float) -> np.ndarray | None:
    """y = x where x > 0, else a * x (a = 0: ReLU), in x's layout; None when x is not dense."""
    y = np.empty_like(x)
    xf, yf = flat(x), flat(y, like=x)
    if xf is None or yf is None:
        return None
    _leaky_forward(xf, yf, x.dtype.type(a))
    return y


def leaky_relu_backward(g: np.ndarray, s: np.ndarray, a: float) -> np.ndarray | None:
    """dx = g where s > 0, else a * g (s: the input, or ReLU's output, which is > 0 exactly where
    the input is); None unless g and s are dense with one layout and dtype."""
    if g.dtype != s.dtype:
        return None
    dx = np.empty_like(s)
    gf, sf, df = flat(g, like=s), flat(s), flat(dx, like=s)
    if gf is None or sf is None or df is None:
        return None
    _leaky_backward(gf, sf, df, g.dtype.type(a))
    return dx


def dropout_forward(x: np.ndarray, u: np.ndarray, p: float,
                    scale: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(mask, y): mask = scale where u >= p else 0 (x's dtype), y = x * mask, one pass; u is the
    C-ordered uniform draw of x's shape; None unless x is C-contiguous."""
    if flat(x) is None or not x.flags.c_contiguous or not u.flags.c_contiguous:
        return None
    mask, y = np.empty_like(x), np.empty_like(x)
    _dropout_forward(x.reshape(-1), u.reshape(-1), u.dtype.type(p), x.dtype.type(scale),
                     mask.reshape(-1), y.reshape(-1))
    return mask, y
