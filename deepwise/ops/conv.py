"""Convolutions: conv1d, conv2d, conv_transpose2d (im2col + one GEMM, channels-last inside).

The API is NCHW (PyTorch's), the arithmetic is channels-last (NHWC), the layout in which one
kernel window is a run of contiguous memory:

* forward: pad the input once into an NHWC buffer; take the ``sliding_window_view`` of every
  kernel window, transpose it to (groups, N, Ho, Wo, kh, kw, C/groups) and copy it ONCE - the
  im2col matrix (M = N*Ho*Wo rows, K = kh*kw*C/groups columns); then one GEMM per group (one in
  all when groups == 1): ``out[M, O] = cols[M, K] @ W[K, O]``. The result is returned as an NCHW
  view of NHWC memory, so the next conv/pool/relu reads it channels-last without a copy.
* dL/dW = (cols^T @ g)^T (one GEMM); dL/db = ones @ g (a GEMV over the M rows);
* dL/dx: one small GEMM per kernel offset, ``g[M, O] @ W[i, j][O, C]``, added into a padded
  buffer at that offset's strided window (a col2im without a scatter).

With numba (``deepwise.kernels.conv``, NumPy arrays) two data movements are compiled loops:
im2col writes the matrix in one pass straight from the unpadded input (no padded copy), and
dL/dx is ONE GEMM ``g @ W^T`` (M, kh*kw*C) followed by one scatter pass onto the unpadded input,
per ~1 MB block of images so the rows stay in cache. The results are the NumPy path's bit for
bit (the same dot products; each dx element sums its offsets in the same order, the last first).

``conv_transpose2d`` is the same two halves swapped: its forward is conv2d's input gradient
(col2im), its input gradient is a conv2d forward (im2col) of the output gradient.

The reference net's convs at batch 128 (input NHWC memory, as a previous layer leaves it),
in ms, 2 threads, 2026-12-01 (AVX-512 machine; NumPy's OpenBLAS GEMM 140-150 GFLOP/s at these
shapes). deepwise: min of 20, the two paths alternating in one process; PyTorch 2.13 (oneDNN)
in its own process, min of 25 in two runs::

                          compiled path   NumPy path    PyTorch
                          fwd / bwd       fwd / bwd     fwd / fwd+bwd
    conv 1->32 on 28x28   3.9 /  4.0      5.1 /  4.0    3.3-9.9 / 4.6-5.1    (bwd: dW, db)
    conv 32->64 on 14x14  11.7 / 16.7     11.9 / 23.9   4.9-6.2 / 16.0-20.1  (bwd: dx, dW, db)
    before this file's kernels (NumPy only, the same machine): 5.7 / 5.9 and 14.0 / 24.5
    in the training step (cnn b128, both convs): fwd 25.2 -> 20.2, bwd 43.8 -> 28.1; step
    94.4 -> 71.8 ms (smallcnn: 20.9 -> 16.9, 36.4 -> 25.9; step 105.4 -> 83.9 ms)

    parts (compiled path)        conv 1->32    conv 32->64
    im2col (NumPy: pad + copy)   2.0 (3.0)     4.7 (0.8 + 7.4)
    forward GEMM + bias add      0.9 + 1.6     6.7 + 0.6
    dW GEMM cols^T @ g; db GEMV  3.2; 0.6      8.3; 0.2      (g^T @ cols: 4.7 and 12.8)
    dx: GEMM + scatter           -             9.4 (NumPy, 9 GEMMs + adds: 16.6)
    (db as gh.sum(axis=(0, 1, 2)) took 4.5 ms for conv 1->32, the GEMV 0.6-1.0 ms)

Earlier measurements (2026-11-24, AVX2 machine, 2 shared cores, +-20%) chose the layout: for
the 32->64 forward, NHWC with one window copy + matmul 12.1 ms vs NCHW textbook 15.4, NCHW
input with (M, K) cols 26.0, einsum(optimize=True) 19.9, tensordot 22.1; one slice copy per
offset wins below 4 channels per group (2.6 vs 3.4 ms for 1->32); for dx in NumPy, one GEMM per
offset + add 10.5-11.9 ms vs one (M, O) @ (O, 9C) GEMM + 9 strided adds 20-34 ms.

Shapes: input (N, C_in, H, W); weight (C_out, C_in / groups, kH, kW); bias (C_out,);
output (N, C_out, H_out, W_out) with H_out = (H + pad_top + pad_bottom - dilation*(kH-1) - 1)
// stride + 1. conv1d is conv2d with H = kH = 1.

>>> x, w = deepwise.randn(8, 3, 28, 28), deepwise.randn(16, 3, 5, 5)
>>> conv2d(x, w, padding=2).shape
(8, 16, 28, 28)
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..kernels import conv as kconv
from ..tensor import Tensor, check_dtypes

__all__ = ["conv1d", "conv2d", "conv_transpose2d"]

TENSOR_METHODS: tuple[str, ...] = ()

_CHUNK = 1 << 18  # values per block of window rows in the fast col2im (1 MB of float32)
_SLICE_COPY_BELOW = 4  # channels per group under which im2col copies one slice per offset


def _tuple(v: Any, n: int, op: str, what: str) -> tuple[int, ...]:
    """An int or a length-n sequence of ints as an n-tuple of non-negative ints."""
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n or not all(isinstance(a, (int, np.integer)) and a >= 0 for a in t):
        raise ValueError(f"{op}: {what} must be an int or {n} non-negative ints, got {v!r}")
    return tuple(int(a) for a in t)


def _win(a: np.ndarray, k: int, s: int, d: int, n: int, axis: int) -> tuple:
    """Index of ``n`` strided windows' offset k along ``axis`` (a basic slice: a view)."""
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(k * d, k * d + s * (n - 1) + 1, s)
    return tuple(idx)


# ---- the two halves every convolution is made of (arrays are NHWC) ---------------------------


def _im2col(xpad: np.ndarray, groups: int, ksize: tuple, stride: tuple, dil: tuple,
            out_hw: tuple) -> np.ndarray:
    """Padded NHWC input (N, Hp, Wp, C) -> windows matrix (groups, N*Ho*Wo, kh*kw*C/groups)."""
    xp = get_array_module(xpad)
    n, _, _, c = xpad.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = ksize, stride, dil, out_hw
    cg = c // groups
    cols = xp.empty((groups, n, ho, wo, kh, kw, cg), xpad.dtype)
    if cg < _SLICE_COPY_BELOW:  # few channels: one slice copy per kernel offset is faster
        x5 = xpad.reshape(xpad.shape[:3] + (groups, cg)).transpose(3, 0, 1, 2, 4)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, :, :, i, j] = x5[_win(x5, i, sh, dh, ho, 2)][_win(x5, j, sw, dw, wo, 3)]
    else:  # one copy of the transposed window view
        win = xp.lib.stride_tricks.sliding_window_view(
            xpad, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
        win = win[:, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw, :, ::dh, ::dw]
        win = win.reshape(n, ho, wo, groups, cg, kh, kw)
        xp.copyto(cols, win.transpose(3, 0, 1, 2, 5, 6, 4))
    return cols.reshape(groups, n * ho * wo, kh * kw * cg)


def _gemm_cols(cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(G, M, K) windows @ weight (G*A, B, kh, kw) -> (M, G*A): out[m, a] = sum_k cols * W."""
    g, m, _ = cols.shape
    a, b, kh, kw = w.shape
    a //= g
    xp = get_array_module(cols, w)
    wmat = w.reshape(g, a, b, kh, kw).transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * b, a)
    if g == 1:
        return cols[0] @ wmat[0]
    out = xp.empty((m, g, a), xp.result_type(cols, w))
    xp.matmul(cols, wmat, out=out.transpose(1, 0, 2))
    return out.reshape(m, g * a)


def _col2im(src: np.ndarray, w: np.ndarray, groups: int, full_hw: tuple, stride: tuple,
            dil: tuple) -> np.ndarray:
    """(N, Ho, Wo, G*A) NHWC values spread back through weight (G*A, B, kh, kw) onto their
    windows: (N, Hp, Wp, G*B), one (M, A) @ (A, B) GEMM per kernel offset added in place."""
    n, ho, wo, _ = src.shape
    a, b, kh, kw = w.shape
    a //= groups
    m = n * ho * wo
    xp = get_array_module(src, w)
    s3 = xp.ascontiguousarray(src).reshape(m, groups, a).transpose(1, 0, 2)  # (G, M, A)
    wg = xp.ascontiguousarray(w.reshape(groups, a, b, kh, kw).transpose(3, 4, 0, 1, 2))
    full = xp.zeros((n,) + tuple(full_hw) + (groups, b), xp.result_type(src, w))
    tmp = xp.empty((m, groups, b), full.dtype)
    for i in reversed(range(kh)):  # the last offset first: the compiled scatter's order of sums
        for j in reversed(range(kw)):
            if groups == 1:
                xp.matmul(s3[0], wg[i, j, 0], out=tmp[:, 0])
            else:
                xp.matmul(s3, wg[i, j], out=tmp.transpose(1, 0, 2))
            view = full[_win(full, i, stride[0], dil[0], ho, 1)][_win(full, j, stride[1], dil[1],
                                                                      wo, 2)]
            view += tmp.reshape(n, ho, wo, groups, b)
    return full.reshape(full.shape[:3] + (groups * b,))


def _wgrad(src: np.ndarray, cols: np.ndarray, wshape: tuple) -> np.ndarray:
    """dL/dW (G*A, B, kh, kw) = (cols^T (G, K, M) @ src (G, M, A))^T, one GEMM per group.

    The GEMM that sums over the M = N*Ho*Wo rows is computed with K = kh*kw*B as the output's
    rows: at 2 threads (2026-12-01) (288, M) @ (M, 64) took 10.5 ms, (64, M) @ (M, 288) 12.8 ms
    (M = 25088), and (9, M) @ (M, 32) 3.2 ms, (32, M) @ (M, 9) 4.7 ms (M = 100352); on busy
    cores OpenBLAS once took 40x longer in the (A, M) @ (M, K) orientation.
    """
    g = cols.shape[0]
    xp = get_array_module(src, cols)
    a, b, kh, kw = wshape
    s3 = src.reshape(-1, g, a // g).transpose(1, 0, 2)  # (G, M, A)
    dw = xp.matmul(cols.transpose(0, 2, 1), s3).transpose(0, 2, 1)
    return dw.reshape(g, a // g, kh, kw, b).transpose(0, 1, 4, 2, 3).reshape(wshape)


def _pad(xh: np.ndarray, pads: tuple, size: tuple | None = None) -> np.ndarray:
    """NHWC array zero-padded (top, bottom, left, right), or to ``size`` (Hp, Wp) from the
    top-left pads; the array itself when there is nothing to pad."""
    pt, pb, pl, pr = pads
    if not any(pads) and size is None:
        return xh
    n, h, w, c = xh.shape
    hp, wp = size if size is not None else (h + pt + pb, w + pl + pr)
    out = get_array_module(xh).zeros((n, hp, wp, c), xh.dtype)
    out[:, pt:pt + h, pl:pl + w] = xh
    return out


def _compiled(*arrays: np.ndarray) -> bool:
    """Whether the compiled kernels take these arrays: NumPy float32/float64 (the kernels are
    compiled for those; float16 or integer convs take the NumPy path)."""
    return kernels.enabled(*arrays) and all(a.dtype in (np.float32, np.float64) for a in arrays)


def _windows(xh: np.ndarray, groups: int, ksize: tuple, stride: tuple, dil: tuple, pads: tuple,
             out_hw: tuple, size: tuple | None = None) -> np.ndarray:
    """The im2col matrix (G, N*Ho*Wo, kh*kw*C/G) of an NHWC input zero-padded by ``pads``."""
    if _compiled(xh):
        return kconv.im2col(xh, groups, ksize, stride, dil, pads, out_hw)
    return _im2col(_pad(xh, pads, size), groups, ksize, stride, dil, out_hw)


def _spread(src: np.ndarray, w: np.ndarray, groups: int, full_hw: tuple, stride: tuple,
            dil: tuple, crop: tuple) -> np.ndarray:
    """col2im of NHWC values (N, Ho, Wo, G*A) through weight (G*A, B, kh, kw), cropped:
    ``crop = (top, left, (H, W))`` keeps full[:, top:top+H, left:left+W] of the (N, *full_hw,
    G*B) result - conv2d's input gradient (the padding dropped), conv_transpose2d's output."""
    top, left, hw = crop
    if _compiled(src, w):
        return _spread_kernel(src, w, groups, stride, dil, crop)
    full = _col2im(src, w, groups, full_hw, stride, dil)
    return full[:, top:top + hw[0], left:left + hw[1]]


def _spread_kernel(src: np.ndarray, w: np.ndarray, groups: int, stride: tuple, dil: tuple,
                   crop: tuple) -> np.ndarray:
    """Fast path (deepwise.kernels.conv): per block of images, ONE GEMM src (G, rows, A) @ W^T
    (G, A, kh*kw*B) gives the gradient of every window entry, and one scatter pass adds them
    onto the cropped input (NHWC). Blocks of ~1 MB stay in cache between the two: 2 threads,
    b128, 32<-64 channels on 14x14: 11.3 -> 9.4 ms (min; medians 12.3 -> 10.7)."""
    n, ho, wo, _ = src.shape
    a, b, kh, kw = w.shape
    a //= groups
    s3 = np.ascontiguousarray(src).reshape(-1, groups, a).transpose(1, 0, 2)
    wt = w.reshape(groups, a, b, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, a, -1)
    top, left, (h, w_) = crop
    dx = np.empty((n, h, w_, groups * b), np.result_type(src, w))
    per = min(n, max(1, _CHUNK // (ho * wo * wt.shape[2])))  # images per chunk
    buf = np.empty((groups, per * ho * wo, wt.shape[2]), dx.dtype)
    for n0 in range(0, n, per):
        rows = slice(n0 * ho * wo, min(n, n0 + per) * ho * wo)
        d = buf[:, :rows.stop - rows.start]
        np.matmul(s3[:, rows], wt, out=d)
        kconv.col2im(d, dx[n0:n0 + per], (kh, kw), stride, dil, (top, 0, left, 0), (ho, wo))
    return dx


# ---- conv2d ------------------------------------------------------------------------------


class Conv2d(Function):
    """y = x (*) W + b;  dL/dW = g^T @ im2col(x),  dL/dx = col2im(g @ W),  dL/db = sum g.

    Input (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> (N, O, Ho, Wo).
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple,
                pads: tuple, dilation: tuple, groups: int, out_hw: tuple,
                shape4: tuple) -> np.ndarray:
        self.shapes = (x.shape, w.shape)  # conv1d / unbatched inputs are computed as 4-D
        x, w = x.reshape(shape4[0]), w.reshape(shape4[1])
        self.xshape, self.w, self.geom = x.shape, w, (stride, pads, dilation, groups, out_hw)
        self.cols = _windows(x.transpose(0, 2, 3, 1), groups, w.shape[2:], stride, dilation,
                             pads, out_hw)
        out = _gemm_cols(self.cols, w)
        if b is not None:
            out += b
        out = out.reshape((x.shape[0],) + out_hw + (w.shape[0],)).transpose(0, 3, 1, 2)
        return out.reshape(shape4[2])

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        stride, pads, dilation, groups, out_hw = self.geom
        gh = g.reshape(self.xshape[:1] + (self.w.shape[0],) + out_hw).transpose(0, 2, 3, 1)
        # NHWC rows, once for both GEMMs (a view if g is NHWC)
        xp = get_array_module(gh)
        gh = xp.ascontiguousarray(gh)
        dx = dw = db = None
        if nx:
            (h, w_), (pt, pb, pl, pr) = self.xshape[2:], pads
            dx = _spread(gh, self.w, groups, (h + pt + pb, w_ + pl + pr), stride, dilation,
                         (pt, pl, (h, w_)))
            dx = dx.transpose(0, 3, 1, 2).reshape(self.shapes[0])
        if nw:
            dw = _wgrad(gh, self.cols, self.w.shape).reshape(self.shapes[1])
        if nb:  # a GEMV: 1.0 ms for (100352, 32) vs 4.5 ms for gh.sum(axis=(0, 1, 2))
            g2 = gh.reshape(-1, gh.shape[3])
            db = xp.ones(g2.shape[0], g2.dtype) @ g2
        return dx, dw, db


def _conv_args(op: str, x: Any, xs: tuple, w: Any, b: Any, stride: Any, padding: Any,
               dilation: Any, groups: int, nd: int) -> tuple:
    """Check shapes and dtypes (input ``x`` of shape ``xs``, weight and bias of one dtype) and
    normalise the hyper-parameters of a conv; returns (stride, pads (t, b, l,
    r), dilation, output (Ho, Wo)) for the 2-D form."""
    ws = tuple(w.shape)
    dims = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if len(xs) != nd + 2:
        raise ShapeError(f"{op}: expected input {dims} or {'(C, L)' if nd == 1 else '(C, H, W)'}"
                         f", got {xs[1:] if len(xs) == nd + 1 else xs}")
    if len(ws) != nd + 2:
        raise ShapeError(f"{op}: expected weight of {nd + 2} dims (C_out, C_in/groups, "
                         f"{'k' if nd == 1 else 'kH, kW'}), got {ws}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if ws[0] % groups:
        raise ShapeError(f"{op}: groups {groups} must divide the weight's out_channels, got "
                         f"weight {ws}")
    if xs[1] != ws[1] * groups:
        hint = ""
        if ws[1] * groups == 1 and x.ndim == nd + 1:  # (N, H, W) read as one (C, H, W) sample
            hint = (f"; for a batch of 1-channel inputs {tuple(x.shape)} add the channel axis: "
                    "x.unsqueeze(1)")
        raise ShapeError(f"{op}: expected input with {ws[1] * groups} channels (weight {ws}, "
                         f"groups {groups}), got input {xs}{hint}")
    if b is not None and tuple(b.shape) != (ws[0],):
        raise ShapeError(f"{op}: expected bias ({ws[0]},) for weight {ws}, got {tuple(b.shape)}")
    check_dtypes(op, x, w)
    if b is not None:
        check_dtypes(op, b, w, ("bias", "weight"))
    st = _tuple(stride, nd, op, "stride")
    dil = _tuple(dilation, nd, op, "dilation")
    if min(st) < 1 or min(dil) < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got {st} and {dil}")
    k = ws[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * nd
        elif padding == "same":
            if max(st) > 1:
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {st})")
            tot = [d * (kk - 1) for d, kk in zip(dil, k)]
            pairs = [(t // 2, t - t // 2) for t in tot]
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                             f"{padding!r}")
    else:
        pairs = [(p, p) for p in _tuple(padding, nd, op, "padding")]
    out = []
    for size, kk, s, d, (lo, hi) in zip(xs[2:], k, st, dil, pairs):
        span = d * (kk - 1) + 1
        if size + lo + hi < span:
            raise ShapeError(f"{op}: input {xs} padded by {tuple(p[0] for p in pairs)} is smaller "
                             f"than the kernel {tuple(k)} (dilation {dil}): each spatial size + "
                             "2*padding must be >= dilation*(kernel-1)+1")
        out.append((size + lo + hi - span) // s + 1)
    if nd == 1:
        return (1,) + st, (0, 0) + pairs[0], (1,) + dil, (1, out[0])
    return st, pairs[0] + pairs[1], dil, tuple(out)


def _unbatched(x: Any, nd: int) -> tuple:
    """PyTorch accepts one sample without the batch axis: (C, H, W) is taken as (1, C, H, W)."""
    return (1,) + tuple(x.shape) if x.ndim == nd + 1 else tuple(x.shape)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over an NCHW batch.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in/groups, kH, kW); bias (C_out,).
    padding: int, (pH, pW), 'valid' (0) or 'same' (stride 1; an odd total puts the extra row
    and column at the bottom/right, as PyTorch). groups == C_in is a depthwise convolution.
    """
    xs = _unbatched(input, 2)
    st, pads, dil, out_hw = _conv_args("conv2d", input, xs, weight, bias, stride, padding,
                                       dilation, groups, 2)
    ys = (xs[0], weight.shape[0]) + out_hw
    return Conv2d.apply(input, weight, bias, stride=st, pads=pads, dilation=dil,
                        groups=int(groups), out_hw=out_hw,
                        shape4=(xs, tuple(weight.shape), ys[input.ndim == 3:]))


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k) ->
    (N, C_out, L_out). Computed as conv2d on (N, C_in, 1, L)."""
    xs = _unbatched(input, 1)
    st, pads, dil, out_hw = _conv_args("conv1d", input, xs, weight, bias, stride, padding,
                                       dilation, groups, 1)
    ws = tuple(weight.shape)
    ys = (xs[0], ws[0], out_hw[1])
    return Conv2d.apply(input, weight, bias, stride=st, pads=pads, dilation=dil,
                        groups=int(groups), out_hw=out_hw,
                        shape4=(xs[:2] + (1,) + xs[2:], ws[:2] + (1,) + ws[2:],
                                ys[input.ndim == 2:]))


# ---- conv_transpose2d ----------------------------------------------------------------------


class ConvTranspose2d(Function):
    """y = col2im(x @ W) + b (conv2d's input gradient);  dL/dx = im2col(g) @ W^T,
    dL/dW = x^T @ im2col(g),  dL/db = sum g.

    Input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,) -> (N, C_out,
    (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1, ...).
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple,
                padding: tuple, dilation: tuple, groups: int, full_hw: tuple,
                out_hw: tuple) -> np.ndarray:
        self.unbatched = x.ndim == 3
        x = x[None] if self.unbatched else x
        self.x, self.w, self.geom = x, w, (stride, padding, dilation, groups, full_hw)
        out = _spread(x.transpose(0, 2, 3, 1), w, groups, full_hw, stride, dilation,
                      (padding[0], padding[1], out_hw))
        if b is not None:
            out += b
        out = out.transpose(0, 3, 1, 2)
        return out[0] if self.unbatched else out

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        stride, (ph, pw), dilation, groups, full_hw = self.geom
        x, w = self.x, self.w
        g = g[None] if self.unbatched else g
        cols = _windows(g.transpose(0, 2, 3, 1), groups, w.shape[2:], stride, dilation,
                        (ph, 0, pw, 0), x.shape[2:], size=full_hw)
        dx = dw = db = None
        if nx:
            dx = _gemm_cols(cols, w).reshape(x.shape[:1] + x.shape[2:] + x.shape[1:2])
            dx = dx.transpose(0, 3, 1, 2)
            dx = dx[0] if self.unbatched else dx
        if nw:
            dw = _wgrad(get_array_module(x).ascontiguousarray(x.transpose(0, 2, 3, 1)), cols,
                        w.shape)
        if nb:
            db = g.sum(axis=(0, 2, 3))
        return dx, dw, db


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                     groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution ("deconvolution"), the gradient of conv2d w.r.t. its input.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW); bias (C_out,).
    H_out = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    xs, ws = _unbatched(input, 2), tuple(weight.shape)
    if len(xs) != 4 or len(ws) != 4:
        raise ShapeError(f"{op}: expected input (N, C_in, H, W) and weight (C_in, C_out/groups, "
                         f"kH, kW), got input {tuple(input.shape)} and weight {ws}")
    if not isinstance(groups, (int, np.integer)) or groups < 1 or ws[0] % groups:
        raise ShapeError(f"{op}: groups {groups!r} must be a positive divisor of the weight's "
                         f"in_channels, got weight {ws}")
    if xs[1] != ws[0]:
        raise ShapeError(f"{op}: expected input with {ws[0]} channels (weight {ws}, groups "
                         f"{groups}), got input {xs}")
    if bias is not None and tuple(bias.shape) != (ws[1] * groups,):
        raise ShapeError(f"{op}: expected bias ({ws[1] * groups},) for weight {ws}, got "
                         f"{tuple(bias.shape)}")
    check_dtypes(op, input, weight)
    if bias is not None:
        check_dtypes(op, bias, weight, ("bias", "weight"))
    st, pad, opad, dil = (_tuple(v, 2, op, n) for v, n in (
        (stride, "stride"), (padding, "padding"), (output_padding, "output_padding"),
        (dilation, "dilation")))
    if min(st) < 1 or min(dil) < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got {st} and {dil}")
    if any(o >= s and o >= d for o, s, d in zip(opad, st, dil)):
        raise ValueError(f"{op}: output_padding {opad} must be smaller than either stride {st} "
                         f"or dilation {dil}")
    full = tuple((h - 1) * s + d * (k - 1) + 1 + o
                 for h, s, d, k, o in zip(xs[2:], st, dil, ws[2:], opad))
    out = tuple(f - 2 * p for f, p in zip(full, pad))
    if min(out) < 1:
        raise ShapeError(f"{op}: padding {pad} leaves no output for input {xs} and weight {ws} "
                         f"(output size {out})")
    return ConvTranspose2d.apply(input, weight, bias, stride=st, padding=pad, dilation=dil,
                                 groups=int(groups), full_hw=full, out_hw=out)
