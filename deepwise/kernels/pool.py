"""Pooling kernels: the max and its window offset in one pass, and the gradient routed back to it;
the average (window sum times a per-window scale) and its gradient spread back, one pass each.

Arrays are (N, H, W, C), channels innermost: ``x.transpose(0, 2, 3, 1)`` of an NCHW view of NHWC
memory (conv2d's output). The loops run in memory order, so each window offset compares C
neighbours in a row (vectorised); an array not C-contiguous in that order (a view into a padded
buffer, NCHW memory) is copied first: numba's loops over strided views measured ~8x slower than
the copy. Few channels make short rows: the op keeps its NumPy path for NCHW inputs of fewer than
8 channels (a per-window loop over NCHW planes measured 3-5x slower than NumPy's passes).

The offset of a window's maximum is ``o = i * kw + j`` for the kernel position (i, j), the FIRST
row-major one that holds the max (PyTorch's argmax; a NaN wins, as in PyTorch). Positions of the
window outside the input (padding, the last ceil-mode window) are skipped, as a -inf pad would be;
a window with no position inside the input gets -inf and offset -1 (no gradient).
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["serves", "max_pool_forward", "max_pool_backward", "avg_pool_forward",
           "avg_pool_backward"]


def serves(x: np.ndarray) -> bool:
    """True for the inputs these kernels are for: float32 / float64 (numba has no float16) in
    NHWC memory (an NCHW view of it: strides[1] < strides[3]) or NCHW with at least 8 channels."""
    return x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and (
        x.strides[1] < x.strides[3] or x.shape[1] >= 8)


@jit
def _forward(x, out, arg, kh, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    nb, h_in, w_in, nc = x.shape
    _, ho, wo, _ = out.shape
    for b in range(nb):
        for oh in range(ho):
            h0 = oh * sh - ph
            for ow in range(wo):
                w0 = ow * sw - pw
                first = True
                for i in range(kh):
                    h = h0 + i * dh
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = w0 + j * dw
                        if w < 0 or w >= w_in:
                            continue
                        o = i * kw + j
                        if first:
                            for c in range(nc):
                                out[b, oh, ow, c] = x[b, h, w, c]
                                arg[b, oh, ow, c] = o
                            first = False
                        else:
                            for c in range(nc):
                                v = x[b, h, w, c]
                                if v > out[b, oh, ow, c] or v != v:
                                    out[b, oh, ow, c] = v
                                    arg[b, oh, ow, c] = o
                if first:  # no position inside the input (a dilated window over padding)
                    for c in range(nc):
                        out[b, oh, ow, c] = -np.inf
                        arg[b, oh, ow, c] = -1


@jit
def _backward_add(g, arg, dx, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    nb, ho, wo, nc = g.shape
    for b in range(nb):
        for oh in range(ho):
            h0 = oh * sh - ph
            for ow in range(wo):
                w0 = ow * sw - pw
                for c in range(nc):
                    o = arg[b, oh, ow, c]
                    if o < 0:
                        continue
                    i = o // kw
                    dx[b, h0 + i * dh, w0 + (o - i * kw) * dw, c] += g[b, oh, ow, c]


@jit
def _backward_tiles(g, arg, dx, kh, kw):  # pragma: no cover - compiled
    nb, ho, wo, nc = g.shape
    for b in range(nb):
        for oh in range(ho):
            for i in range(kh):
                h = oh * kh + i
                for ow in range(wo):
                    for j in range(kw):
                        w = ow * kw + j
                        o = i * kw + j
                        for c in range(nc):
                            dx[b, h, w, c] = g[b, oh, ow, c] if arg[b, oh, ow, c] == o else 0


def max_pool_forward(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
                     out_hw: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(out, arg) for x (N, H, W, C): out[n, oh, ow, c] = max of the window, arg its offset
    i * kw + j (int8 for up to 127 offsets, else int32); both (N, Ho, Wo, C), C-contiguous."""
    x = np.ascontiguousarray(x)
    shape = (x.shape[0],) + tuple(out_hw) + (x.shape[3],)
    out = np.empty(shape, x.dtype)
    arg = np.empty(shape, np.int8 if k[0] * k[1] <= 127 else np.int32)
    _forward(x, out, arg, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    return out, arg


def max_pool_backward(g: np.ndarray, arg: np.ndarray, in_hw: tuple, k: tuple, s: tuple,
                      p: tuple, d: tuple) -> np.ndarray:
    """dx (N, H, W, C): each g[n, oh, ow, c] added at its window's max. Windows that tile the
    input exactly (stride == kernel, no padding or dilation) write every element once (g at the
    max, 0 elsewhere) into an uninitialised array; otherwise g is added into zeros (overlapping
    windows accumulate)."""
    g = np.ascontiguousarray(g)  # e.g. a view into conv's padded gradient buffer
    nb, ho, wo, nc = g.shape
    in_hw = tuple(in_hw)
    shape = (nb,) + in_hw + (nc,)
    if s == k and p == (0, 0) and d == (1, 1) and (ho * k[0], wo * k[1]) == in_hw:
        dx = np.empty(shape, g.dtype)
        _backward_tiles(g, arg, dx, k[0], k[1])
        return dx
    dx = np.zeros(shape, g.dtype)
    _backward_add(g, arg, dx, k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    return dx


@jit
def _avg_forward(x, scale, out, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    nb, h_in, w_in, nc = x.shape
    _, ho, wo, _ = out.shape
    for b in range(nb):
        for oh in range(ho):
            h0 = oh * sh - ph
            for ow in range(wo):
                w0 = ow * sw - pw
                for c in range(nc):
                    out[b, oh, ow, c] = 0
                for i in range(kh):
                    h = h0 + i
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = w0 + j
                        if w < 0 or w >= w_in:
                            continue
                        for c in range(nc):
                            out[b, oh, ow, c] += x[b, h, w, c]
                sc = scale[oh, ow]
                for c in range(nc):
                    out[b, oh, ow, c] *= sc


@jit
def _avg_backward(g, scale, dx, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    nb, ho, wo, nc = g.shape
    _, h_in, w_in, _ = dx.shape
    for b in range(nb):
        for oh in range(ho):
            h0 = oh * sh - ph
            for ow in range(wo):
                w0 = ow * sw - pw
                sc = scale[oh, ow]
                for i in range(kh):
                    h = h0 + i
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = w0 + j
                        if w < 0 or w >= w_in:
                            continue
                        for c in range(nc):
                            dx[b, h, w, c] += g[b, oh, ow, c] * sc


def avg_pool_forward(x: np.ndarray, scale: np.ndarray, k: tuple, s: tuple,
                     p: tuple) -> np.ndarray:
    """out (N, Ho, Wo, C) for x (N, H, W, C): the sum of each window's positions inside x (the
    zero padding adds nothing), in row-major order, times scale[oh, ow] (1 / divisor)."""
    x = np.ascontiguousarray(x)
    out = np.empty((x.shape[0],) + scale.shape + (x.shape[3],), x.dtype)
    _avg_forward(x, scale, out, k[0], k[1], s[0], s[1], p[0], p[1])
    return out


def avg_pool_backward(g: np.ndarray, scale: np.ndarray, in_hw: tuple, k: tuple, s: tuple,
                      p: tuple) -> np.ndarray:
    """dx (N, H, W, C): g[n, oh, ow, c] * scale[oh, ow] added at every position of the window
    inside the input."""
    g = np.ascontiguousarray(g)
    dx = np.zeros((g.shape[0],) + tuple(in_hw) + (g.shape[3],), g.dtype)
    _avg_backward(g, scale, dx, k[0], k[1], s[0], s[1], p[0], p[1])
    return dx
