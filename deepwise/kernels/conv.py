"""Convolution kernels: im2col straight from the unpadded input, and col2im as one scatter pass.

Arrays are channels-last: the input ``x`` is (N, H, W, C) (a conv output's NCHW view is
``x.transpose(0, 2, 3, 1)`` of NHWC memory; any strides are accepted), and the windows matrix
``cols`` is (G, M, K) with M = N*Ho*Wo rows (n, ho, wo) and K = kh*kw*C/G columns (i, j, c) -
conv.py's im2col layout. Window position (i, j) of output pixel (ho, wo) reads input pixel
``(ho*sh + i*dh - pt, wo*sw + j*dw - pl)``; positions outside the input read zero, so no padded
copy of the input is made. The loops run in memory order with the channels innermost.

* ``im2col``: the windows matrix written in one pass (the NumPy path pads the input into a new
  buffer, then copies a transposed window view);
* ``col2im``: its adjoint, dx[n, y, x, c] = the sum of the entries of ``cols`` that im2col would
  have read from (y, x, c): the rows of ``cols`` read once in memory order, each added onto its
  window of dx (a gather per dx pixel measured 1.5x slower on the whole batch, 2.3 ms slower in
  blocks; reading the rows from the last, 1.8 ms slower).

A direct conv for few input channels (a 1->32 3x3 conv: 9 multiply-adds per output) measured
slower than im2col + GEMM (6 ms vs 1.4 ms for the GEMM at batch 128), so there is none.
"""

from __future__ import annotations

import numpy as np

from . import jit

__all__ = ["im2col", "col2im"]


@jit
def _im2col(x, cols, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - compiled
    n_img, h_in, w_in, nc = x.shape
    ng = cols.shape[0]
    cg = nc // ng
    for g in range(ng):
        c0 = g * cg
        col = cols[g]  # (M, K), one row per output pixel
        for n in range(n_img):
            for oh in range(ho):
                m0 = (n * ho + oh) * wo
                if cg < 4:  # a few channels: down a column of cols, along a row of x
                    for i in range(kh):
                        h = oh * sh + i * dh - pt
                        h_ok = h >= 0 and h < h_in
                        for j in range(kw):
                            k0 = (i * kw + j) * cg
                            for ow in range(wo):
                                w = ow * sw + j * dw - pl
                                if h_ok and w >= 0 and w < w_in:
                                    for c in range(cg):
                                        col[m0 + ow, k0 + c] = x[n, h, w, c0 + c]
                                else:
                                    for c in range(cg):
                                        col[m0 + ow, k0 + c] = 0
                    continue
                for ow in range(wo):  # else row by row, a run of cg channels at a time
                    row = col[m0 + ow]
                    for i in range(kh):
                        h = oh * sh + i * dh - pt
                        for j in range(kw):
                            w = ow * sw + j * dw - pl
                            k0 = (i * kw + j) * cg
                            dst = row[k0:k0 + cg]  # slices: 0-based loops vectorise
                            if h >= 0 and h < h_in and w >= 0 and w < w_in:
                                src = x[n, h, w, c0:c0 + cg]
                                for c in range(cg):
                                    dst[c] = src[c]
                            else:
                                for c in range(cg):
                                    dst[c] = 0


def im2col(x: np.ndarray, groups: int, ksize: tuple, stride: tuple, dil: tuple, pads: tuple,
           out_hw: tuple) -> np.ndarray:
    """NHWC input (N, H, W, C), zero padding (top, bottom, left, right) -> windows matrix
    (groups, N*Ho*Wo, kh*kw*C/groups): cols[g, m, (i, j, c)] = x at window position (i, j)."""
    n, _, _, c = x.shape
    (kh, kw), (ho, wo) = ksize, out_hw
    cols = np.empty((groups, n * ho * wo, kh * kw * (c // groups)), x.dtype)
    _im2col(x, cols, ho, wo, kh, kw, stride[0], stride[1], dil[0], dil[1], pads[0], pads[2])
    return cols


@jit
def _col2im(cols, dx, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - compiled
    n_img, h_in, w_in, nc = dx.shape
    ng = cols.shape[0]
    cg = nc // ng
    dx[...] = 0
    # the rows of cols in memory order: each dx element receives its window entries in the
    # order (i, j) = (kh-1, kw-1), (kh-1, kw-2), ..., (0, 0), as in the NumPy path (same sums)
    for n in range(n_img):
        for oh in range(ho):
            for ow in range(wo):
                m = (n * ho + oh) * wo + ow
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = ow * sw + j * dw - pl
                        if w < 0 or w >= w_in:
                            continue
                        k0 = (i * kw + j) * cg
                        for g in range(ng):
                            src = cols[g, m, k0:k0 + cg]  # slices: 0-based loops vectorise
                            dst = dx[n, h, w, g * cg:g * cg + cg]
                            for c in range(cg):
                                dst[c] += src[c]


def col2im(cols: np.ndarray, dx: np.ndarray, ksize: tuple, stride: tuple, dil: tuple,
           pads: tuple, out_hw: tuple) -> np.ndarray:
    """Windows matrix (G, n*Ho*Wo, kh*kw*C/G) -> ``dx`` (n, H, W, C) NHWC, overwritten: each input
    pixel gets the sum of the entries of the windows that read it (im2col's adjoint), padding
    dropped. ``dx`` may be a block of images of a larger array (``cols`` then holds their rows)."""
    _col2im(cols, dx, out_hw[0], out_hw[1], ksize[0], ksize[1], stride[0], stride[1], dil[0],
            dil[1], pads[0], pads[2])
    return dx
