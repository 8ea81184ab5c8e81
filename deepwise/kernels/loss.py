"""Compiled cross-entropy pieces over (N, C) logits: the row-wise softmax in one pass per row.

NumPy's reductions along a short last axis are slow (``x.max(axis=1)`` on (512, 10) float32:
~60 us, ~115 ns a row; then a subtraction, ``take_along_axis``, ``exp`` and ``sum(axis=1)``, each a
pass of its own); the kernels here walk each row once. ``ops/loss.py`` keeps the NumPy lines as
the reference and calls these for 2-D class-index targets (the forward up to ``MAX_CLASSES``).
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["DTYPES", "MAX_CLASSES", "softmax_parts", "softmax_grad"]

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # numba has no float16

# softmax_parts is faster than the NumPy lines up to ~200 classes, slower beyond (NumPy's max over
# long rows is SIMD): forward (N, C) float32, 2 threads: (128, 10) 44 -> 14 us, (2048, 65)
# 0.56 -> 0.32 ms, (1024, 128) 0.39 -> 0.28 ms, (1024, 256) 0.69 -> 0.77 ms
MAX_CLASSES = 128


@jit
def _shift_rows(x, tgt, z, zy):  # pragma: no cover - compiled
    """Row i: m = max_c x_ic (NaN if any is NaN, as np.max); z_ic = x_ic - m; zy_i = z_i,tgt_i."""
    n, c = x.shape
    for i in range(n):
        m = x[i, 0]
        for j in range(1, c):
            v = x[i, j]
            if v > m or v != v:
                m = v
        for j in range(c):
            z[i, j] = x[i, j] - m
        zy[i] = z[i, tgt[i]]


def softmax_parts(x: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For logits x (N, C) and class indices tgt (N,) in [0, C): ``(e, s, zy)`` with
    z = x - max_c x (each row shifted by its max), e = exp(z), s = e.sum(1), zy = z[i, tgt_i].

    The shift and the pick in one compiled pass; the exp stays NumPy's (SIMD: numba's scalar exp
    was 2-4x slower at every C) and the row sums are one GEMV ``e @ ones``."""
    n, c = x.shape
    z = np.empty(x.shape, x.dtype)
    zy = np.empty(n, x.dtype)
    _shift_rows(x, tgt, z, zy)
    e = np.exp(z, out=z)
    return e, e @ np.ones(c, x.dtype), zy


@jit
def _softmax_grad(e, s, asum, tgt, ay, gx):  # pragma: no cover - compiled
    """gx_ic = e_ic * (asum_i / s_i), then gx_i,tgt_i -= ay_i."""
    n, c = e.shape
    for i in range(n):
        f = asum[i] / s[i]
        for j in range(c):
            gx[i, j] = e[i, j] * f
        t = tgt[i]
        gx[i, t] = gx[i, t] - ay[i]


def softmax_grad(e: np.ndarray, s: np.ndarray, asum: np.ndarray, tgt: np.ndarray,
                 ay: np.ndarray) -> np.ndarray:
    """The cross-entropy input gradient (N, C): softmax * asum (per row) minus ay at the target,
    i.e. ``e * (asum / s)[:, None]`` with ``ay`` subtracted at (i, tgt_i)."""
    gx = np.empty(e.shape, e.dtype)
    _softmax_grad(e, s, asum, tgt, ay, gx)
    return gx
