"""Compiled kernels for batch_norm (``deepwise.ops.norm``): the statistics in one pass, the
normalise + affine in a second; in backward the two channel sums in one pass, dL/dx in a second.

Two memory layouts, as batch_norm meets them:

* ``rows``: an (M, C) C-contiguous view, each sample's channels adjacent in memory (conv2d's
  NCHW-shaped output in NHWC memory, or an (N, C) batch); the loops run over m, then c.
* ``planes``: an (N, C, L) C-contiguous array (NCHW memory, or BatchNorm1d's (N, C, L)); the
  loops run over n, c, then l.

Every sum is accumulated in float64 whatever the input's dtype, and the statistics are taken of
x - k_c with k_c a value of the channel (its first one): var = E[(x - k)^2] - E[x - k]^2 then
cancels no digits unless the channel's spread is tiny beside |mean - k|, which a value of the
channel itself rules out. The element-wise passes compute in float64 and round once into the
output's dtype.

layer_norm's kernels take the (R, D) rows of a C-contiguous input, one row per normalised
sample: each row is swept two or three times while it sits in cache, so x and g are read from
memory once per pass of the op.
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["stats_rows", "stats_planes", "affine_rows", "affine_planes", "grad_sums_rows",
           "grad_sums_planes", "grad_x_rows", "grad_x_planes", "layer_norm_forward",
           "layer_norm_backward"]


@jit
def stats_rows(x, shift, s, q):  # pragma: no cover - compiled
    """s_c = sum_m (x[m, c] - shift_c), q_c = sum_m (x[m, c] - shift_c)^2 (float64 s, q)."""
    m, c = x.shape
    for j in range(c):
        s[j] = 0.0
        q[j] = 0.0
    for i in range(m):
        for j in range(c):
            v = np.float64(x[i, j]) - shift[j]
            s[j] += v
            q[j] += v * v


@jit
def stats_planes(x, shift, s, q):  # pragma: no cover - compiled
    """s_c = sum_{n,l} (x[n, c, l] - shift_c), q_c = sum_{n,l} (x[n, c, l] - shift_c)^2."""
    n, c, length = x.shape
    for j in range(c):
        s[j] = 0.0
        q[j] = 0.0
    for i in range(n):
        for j in range(c):
            k = shift[j]
            a = 0.0
            b = 0.0
            for t in range(length):
                v = np.float64(x[i, j, t]) - k
                a += v
                b += v * v
            s[j] += a
            q[j] += b


@jit
def affine_rows(x, mean, scale, shift, out):  # pragma: no cover - compiled
    """out[m, c] = (x[m, c] - mean_c) * scale_c + shift_c."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = (np.float64(x[i, j]) - mean[j]) * scale[j] + shift[j]


@jit
def affine_planes(x, mean, scale, shift, out):  # pragma: no cover - compiled
    """out[n, c, l] = (x[n, c, l] - mean_c) * scale_c + shift_c."""
    n, c, length = x.shape
    for i in range(n):
        for j in range(c):
            mu, a, b = mean[j], scale[j], shift[j]
            for t in range(length):
                out[i, j, t] = (np.float64(x[i, j, t]) - mu) * a + b


@jit
def grad_sums_rows(g, x, mean, sg, sgx):  # pragma: no cover - compiled
    """sg_c = sum_m g[m, c], sgx_c = sum_m g[m, c] * (x[m, c] - mean_c) (float64)."""
    m, c = x.shape
    for j in range(c):
        sg[j] = 0.0
        sgx[j] = 0.0
    for i in range(m):
        for j in range(c):
            v = np.float64(g[i, j])
            sg[j] += v
            sgx[j] += v * (np.float64(x[i, j]) - mean[j])


@jit
def grad_sums_planes(g, x, mean, sg, sgx):  # pragma: no cover - compiled
    """sg_c = sum_{n,l} g[n, c, l], sgx_c = sum_{n,l} g[n, c, l] * (x[n, c, l] - mean_c)."""
    n, c, length = x.shape
    for j in range(c):
        sg[j] = 0.0
        sgx[j] = 0.0
    for i in range(n):
        for j in range(c):
            mu = mean[j]
            a = 0.0
            b = 0.0
            for t in range(length):
                v = np.float64(g[i, j, t])
                a += v
                b += v * (np.float64(x[i, j, t]) - mu)
            sg[j] += a
            sgx[j] += b


@jit
def grad_x_rows(g, x, mean, kg, kx, k0, out):  # pragma: no cover - compiled
    """out[m, c] = kg_c * g[m, c] + kx_c * (x[m, c] - mean_c) + k0_c."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = kg[j] * np.float64(g[i, j]) + kx[j] * (np.float64(x[i, j]) - mean[j]) \
                + k0[j]


@jit
def grad_x_planes(g, x, mean, kg, kx, k0, out):  # pragma: no cover - compiled
    """out[n, c, l] = kg_c * g[n, c, l] + kx_c * (x[n, c, l] - mean_c) + k0_c."""
    n, c, length = x.shape
    for i in range(n):
        for j in range(c):
            mu, a, b, d = mean[j], kg[j], kx[j], k0[j]
            for t in range(length):
                out[i, j, t] = a * np.float64(g[i, j, t]) + b * (np.float64(x[i, j, t]) - mu) + d


# ---- layer_norm: rows (R, D) of a C-contiguous input, each normalised over its D values -------


@jit
def _row_mean_var(x, r):  # pragma: no cover - compiled
    """(mean, biased variance) of row r of x, float64: the mean, then the squares of x - mean;
    four partial sums per sweep (one chain of additions would wait on each add's latency)."""
    d = x.shape[1]
    top = d - d % 4
    a0 = a1 = a2 = a3 = 0.0
    for j in range(0, top, 4):
        a0 += np.float64(x[r, j])
        a1 += np.float64(x[r, j + 1])
        a2 += np.float64(x[r, j + 2])
        a3 += np.float64(x[r, j + 3])
    for j in range(top, d):
        a0 += np.float64(x[r, j])
    mu = ((a0 + a1) + (a2 + a3)) / d
    a0 = a1 = a2 = a3 = 0.0
    for j in range(0, top, 4):
        v0 = np.float64(x[r, j]) - mu
        v1 = np.float64(x[r, j + 1]) - mu
        v2 = np.float64(x[r, j + 2]) - mu
        v3 = np.float64(x[r, j + 3]) - mu
        a0 += v0 * v0
        a1 += v1 * v1
        a2 += v2 * v2
        a3 += v3 * v3
    for j in range(top, d):
        v0 = np.float64(x[r, j]) - mu
        a0 += v0 * v0
    return mu, ((a0 + a1) + (a2 + a3)) / d


@jit
def _row_grad_sums(g, x, w, r, mu, inv):  # pragma: no cover - compiled
    """(sum dxhat, sum dxhat * xhat) over row r, dxhat = g * w, xhat = (x - mu) * inv; four
    partial sums each."""
    d = x.shape[1]
    top = d - d % 4
    s = np.zeros(4)
    q = np.zeros(4)
    for j in range(0, top, 4):
        for u in range(4):
            dxh = np.float64(g[r, j + u]) * w[j + u]
            s[u] += dxh
            q[u] += dxh * (np.float64(x[r, j + u]) - mu)
    for j in range(top, d):
        dxh = np.float64(g[r, j]) * w[j]
        s[0] += dxh
        q[0] += dxh * (np.float64(x[r, j]) - mu)
    return (s[0] + s[1]) + (s[2] + s[3]), ((q[0] + q[1]) + (q[2] + q[3])) * inv


@jit
def layer_norm_forward(x, w, b, eps, out, mean, invstd):  # pragma: no cover - compiled
    """Per row r: mean_r, invstd_r = 1 / sqrt(var_r + eps) (two sweeps of the row, float64, the
    row in cache), out[r] = (x[r] - mean_r) * invstd_r * w + b."""
    rows, d = x.shape
    for r in range(rows):
        mu, var = _row_mean_var(x, r)
        inv = 1.0 / np.sqrt(var + eps)
        mean[r] = mu
        invstd[r] = inv
        for j in range(d):
            out[r, j] = (np.float64(x[r, j]) - mu) * inv * w[j] + b[j]


@jit
def layer_norm_backward(g, x, w, mean, invstd, dx, dw, db):  # pragma: no cover - compiled
    """Per row r, with xhat = (x[r] - mean_r) * invstd_r and dxhat = g[r] * w:
    dx[r] = invstd_r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)); over all rows
    dw = sum g * xhat, db = sum g (float64)."""
    rows, d = x.shape
    for j in range(d):
        dw[j] = 0.0
        db[j] = 0.0
    for r in range(rows):
        mu, inv = mean[r], invstd[r]
        s1, s2 = _row_grad_sums(g, x, w, r, mu, inv)
        s1 /= d
        s2 /= d
        for j in range(d):
            gv = np.float64(g[r, j])
            xh = (np.float64(x[r, j]) - mu) * inv
            dx[r, j] = inv * (gv * w[j] - s1 - xh * s2)
            dw[j] += gv * xh
            db[j] += gv
