"""Compiled time-step kernels for the LSTM and GRU sequence ops (:mod:`deepwise.ops.rnn`).

Per time step the NumPy path makes ~12-20 small calls on (B, 4H) arrays, each one a pass over
memory plus ~1-2 us of call overhead; a kernel here does the same gate arithmetic in one pass.
The h W_hh^T and da W_hh GEMMs stay in BLAS (NumPy's matmul), between the kernel calls.

The activations: float64 uses ``math.tanh`` / ``math.exp`` (the exact values, as NumPy). For
float32 numba's scalar ``tanhf`` / ``expf`` are library calls that stop the loop from being
vectorised (6-38 ns an element, against NumPy's SIMD 0.7-1.1 ns), so float32 uses the rational
approximation of Eigen's ``ptanh_float`` (clamped to +-7.9, max abs error 3.5e-7 against the true
tanh; NumPy's float32 tanh: 6e-8), which compiles to SIMD code, and
``sigmoid(a) = (1 + tanh(a / 2)) / 2``. ``np.divide`` on scalars is used instead of ``/``: it has
NumPy's error model (no zero-division check), which is what lets the loop vectorise.

Every kernel takes ``carry`` (B,) bool: the rows of padded sequences at this step (their state is
carried unchanged and their gate gradients are 0, as the NumPy path's masks do).
"""

from __future__ import annotations

import math

import numpy as np

from . import jit

__all__ = ["lstm_forward_step", "lstm_backward_step", "gru_forward_step", "gru_backward_step"]


@jit
def tanh(x):  # noqa: ANN001, ANN201 - numba specialises on the argument's type
    """tanh(x): exact for float64; Eigen's rational approximation p(x)/q(x) for float32."""
    if isinstance(x, np.float32):
        c = np.float32(7.90531110763549805)
        x = min(max(x, -c), c)
        x2 = x * x
        p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
        p = p * x2 + np.float32(-8.60467152213735e-11)
        p = p * x2 + np.float32(5.12229709037114e-08)
        p = p * x2 + np.float32(1.48572235717979e-05)
        p = p * x2 + np.float32(6.37261928875436e-04)
        p = p * x2 + np.float32(4.89352455891786e-03)
        q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
        q = q * x2 + np.float32(2.26843463243900e-03)
        q = q * x2 + np.float32(4.89352518554385e-03)
        return np.divide(p * x, q)
    return math.tanh(x)


@jit
def sigmoid(x):  # noqa: ANN001, ANN201
    """1 / (1 + e^-x): exact for float64 (no overflow for either sign); (1 + tanh(x/2)) / 2
    with the float32 tanh above."""
    if isinstance(x, np.float32):
        return np.float32(0.5) * tanh(np.float32(0.5) * x) + np.float32(0.5)
    if x >= 0:
        return np.divide(1.0, 1.0 + math.exp(-x))
    e = math.exp(x)
    return np.divide(e, 1.0 + e)


@jit
def lstm_forward_step(a, ah, bias, h_prev, c_prev, h, c, tc, carry):  # noqa: ANN001, ANN201
    """One LSTM step, gates i, f, g, o: a (B, 4H) holds x_t W_ih^T, ah = h_prev W_hh^T,
    bias (4H,) = b_ih + b_hh; a becomes [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)] of
    a + ah + bias; c = f c_prev + i g, tc = tanh(c), h = o tc; rows with carry[b] keep
    h_prev, c_prev."""
    n, hn = h.shape
    bi, bf, bg, bo = bias[:hn], bias[hn:2 * hn], bias[2 * hn:3 * hn], bias[3 * hn:]
    for b in range(n):  # one row at a time, as 1-D views: the loop over j then vectorises
        ai, af, ag, ao = a[b, :hn], a[b, hn:2 * hn], a[b, 2 * hn:3 * hn], a[b, 3 * hn:]
        hi, hf, hg, ho = ah[b, :hn], ah[b, hn:2 * hn], ah[b, 2 * hn:3 * hn], ah[b, 3 * hn:]
        cp, cb, tb, hb = c_prev[b], c[b], tc[b], h[b]
        for j in range(hn):
            i, f = sigmoid(ai[j] + hi[j] + bi[j]), sigmoid(af[j] + hf[j] + bf[j])
            g, o = tanh(ag[j] + hg[j] + bg[j]), sigmoid(ao[j] + ho[j] + bo[j])
            ai[j], af[j], ag[j], ao[j] = i, f, g, o
            cv = f * cp[j] + i * g
            t = tanh(cv)
            cb[j], tb[j], hb[j] = cv, t, o * t
        if carry[b]:
            hb[:] = h_prev[b]
            cb[:] = cp


@jit
def lstm_backward_step(a, c_prev, tc, g_out, dh, dc, da, carry):  # noqa: ANN001, ANN201
    """Gate gradients of one LSTM step from a = [i, f, g, o] (activations), c_prev, tc =
    tanh(c_t), dh = dL/dh_t from the step after (without g_out, this step's output gradient)
    and dc = dL/dc_t: with dh' = dh + g_out and dc' = dc + dh' o (1 - tc^2),
    da = [dc' g i(1-i), dc' c_prev f(1-f), dc' i (1-g^2), dh' tc o(1-o)], dc <- dc' f.
    Rows with carry[b]: da = 0, dc unchanged, dh <- dh' (added to da W_hh by the op); other
    rows: dh <- 0."""
    n, hn = dh.shape
    one = np.float32(1)  # exact in either dtype; a literal 1 would make float32 math float64
    for b in range(n):
        dhb, dcb, gb, dab = dh[b], dc[b], g_out[b], da[b]
        if carry[b]:
            dhb += gb
            dab[:] = 0
            continue
        ai, af, ag, ao = a[b, :hn], a[b, hn:2 * hn], a[b, 2 * hn:3 * hn], a[b, 3 * hn:]
        di, df, dg, do = dab[:hn], dab[hn:2 * hn], dab[2 * hn:3 * hn], dab[3 * hn:]
        cp, tb = c_prev[b], tc[b]
        for j in range(hn):
            i, f, g, o, t = ai[j], af[j], ag[j], ao[j], tb[j]
            dhv = dhb[j] + gb[j]
            dcv = dcb[j] + dhv * o * (one - t * t)
            di[j] = dcv * g * (i * (one - i))
            df[j] = dcv * cp[j] * (f * (one - f))
            dg[j] = dcv * i * (one - g * g)
            do[j] = dhv * t * (o * (one - o))
            dcb[j] = dcv * f
            dhb[j] = 0


@jit
def gru_forward_step(a, ah, bias, bhn, h_prev, h, ahn, carry):  # noqa: ANN001, ANN201
    """One GRU step, gates r, z, n: a (B, 3H) holds x_t W_ih^T, ah = h_prev W_hh^T,
    bias (3H,) = b_ih + [b_hr, b_hz, 0], bhn (H,) = b_hn: with ax = a + bias,
    r, z = sigmoid(ax + ah), ahn = ah_n + b_hn, n = tanh(ax_n + r ahn), h = n + z (h_prev - n);
    a becomes [r, z, n]; carry rows keep h_prev."""
    nb, hn = h.shape
    br, bz, bn = bias[:hn], bias[hn:2 * hn], bias[2 * hn:]
    for b in range(nb):
        ar, az, an = a[b, :hn], a[b, hn:2 * hn], a[b, 2 * hn:]
        hr, hz, hn_ = ah[b, :hn], ah[b, hn:2 * hn], ah[b, 2 * hn:]
        hp, hb, sb = h_prev[b], h[b], ahn[b]
        for j in range(hn):
            r, z = sigmoid(ar[j] + hr[j] + br[j]), sigmoid(az[j] + hz[j] + bz[j])
            s = hn_[j] + bhn[j]
            n = tanh(an[j] + bn[j] + r * s)
            ar[j], az[j], an[j], sb[j] = r, z, n, s
            hb[j] = n + z * (hp[j] - n)
        if carry[b]:
            hb[:] = hp


@jit
def gru_backward_step(a, ahn, h_prev, g_out, dh, dn, dgh, carry):  # noqa: ANN001, ANN201
    """Gate gradients of one GRU step from a = [r, z, n] (activations) and ahn = ah_n + b_hn:
    with dh' = dh + g_out, dn = dh' (1-z)(1-n^2), dz = dh' (h_prev - n) z(1-z),
    dr = dn ahn r(1-r): dn (B, H), dgh = [dr, dz, dn r] (so d(ax) = [dr, dz, dn]), dh <- dh' z
    (the part of dL/dh_{t-1} that bypasses W_hh). Carry rows: dn = dgh = 0, dh <- dh'."""
    nb, hn = dh.shape
    one = np.float32(1)
    for b in range(nb):
        dhb, gb = dh[b], g_out[b]
        if carry[b]:
            dhb += gb
            dn[b] = 0
            dgh[b] = 0
            continue
        ar, az, an = a[b, :hn], a[b, hn:2 * hn], a[b, 2 * hn:]
        yr, yz, yn, xn = dgh[b, :hn], dgh[b, hn:2 * hn], dgh[b, 2 * hn:], dn[b]
        hp, sb = h_prev[b], ahn[b]
        for j in range(hn):
            r, z, n = ar[j], az[j], an[j]
            dhv = dhb[j] + gb[j]
            dnv = dhv * (one - z) * (one - n * n)
            yz[j] = dhv * (hp[j] - n) * (z * (one - z))
            yr[j] = dnv * sb[j] * (r * (one - r))
            xn[j], yn[j] = dnv, dnv * r
            dhb[j] = dhv * z
