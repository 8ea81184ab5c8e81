"""Pooling (max, average, adaptive) and resizing (interpolate) over NCHW batches.

Windows are strided views, one per kernel offset: for offset (i, j) the value of every window
is ``xp[:, :, i*d : i*d + s*(Ho-1)+1 : s, j*d : ... : s]`` (xp: the input padded once, or the
input itself when no padding is needed). The only Python loop is over the kh*kw offsets, each
a whole-batch NumPy call:

* max: ``out = max over offsets`` (np.maximum in place). The backward rebuilds PyTorch's argmax
  mask - the FIRST offset (row-major) that holds the max - offset by offset, and routes g there.
  With stride == kernel and no padding the windows are the reshape (N, C, Ho, k, Wo, k) of the
  input itself (views, no copy) and the backward writes each offset's slice once; overlapping
  windows accumulate.
* avg: ``out = sum over offsets / divisor``; backward spreads g / divisor over each window.
* adaptive: evenly divisible sizes are plain pools with kernel = stride = in // out; otherwise
  bins [floor(i*in/out), ceil((i+1)*in/out)) - separable averaging matrices for avg, a
  clamped-offset gather for max.
* interpolate: separable, one axis at a time (a gather; linear: two gathers and a lerp); the
  backward sums g back with ``np.add.reduceat`` (the source indices are sorted).

Measured (batch 128, 2x2 max pool on 32x28x28, channels-last memory, noisy +-20%): max of the
4 offset views 2.1 ms vs 29 ms for argmax over a copied (..., 4) window array; backward
3-4 ms with offset masks vs 20 ms with a one-hot (..., 4) array (the mask kernels alone; the
whole op through autograd: forward 1.3 ms, backward 8.9 ms; PyTorch 9.9 ms and 1.7 ms).

Fast path (deepwise.kernels.pool, when numba is installed; inputs in NHWC memory, or NCHW with
at least 8 channels): max pooling in one pass over the input in NHWC memory order, saving the
int8 offset of each window's first max instead of the input; the backward writes (overlapping
windows: adds) g at that offset in one pass. Average pooling likewise (window sums times the
scale; g * scale spread back). The reference net's two max pools at batch 128, 2 threads:
forward 6.2-6.8 -> 3.3-3.9 ms, backward 22-24 -> 3.6-3.8 ms.

Shapes: input (N, C, H, W) or (C, H, W) (1-d: (N, C, L) or (C, L)) -> (N, C, Ho, Wo) with
Ho = floor_or_ceil((H + 2p - d*(k-1) - 1) / s) + 1.
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..kernels import pool as kpool
from ..tensor import Tensor
from .conv import _tuple
from .interpolate import interpolate, upsample

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "interpolate", "upsample"]

TENSOR_METHODS: tuple[str, ...] = ()


def _channels_last(x: np.ndarray) -> bool:
    """True when an NCHW-shaped array sits in NHWC memory (as conv2d's output does)."""
    return x.strides[1] < x.strides[3]


def _same_layout(g: np.ndarray, channels_last: bool) -> np.ndarray:
    """g (N, C, H, W) in NHWC memory when channels_last, else NCHW: one transposing copy when
    it differs, so the per-offset passes of a backward do not mix layouts (the 2x2 pool after
    the reference net's second conv, input (128, 64, 14, 14) in NHWC memory, NCHW gradient from
    Flatten: backward 7.6 -> 2.0 ms on a quiet machine, ~34 -> 3 ms with the cores busy)."""
    if _channels_last(g) == channels_last:
        return g
    if channels_last:
        return get_array_module(g).ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(
            0, 3, 1, 2)
    return get_array_module(g).ascontiguousarray(g)


def _alloc(xp: Any, shape: tuple, dtype: Any, channels_last: bool, fill: float) -> np.ndarray:
    """An NCHW-shaped array filled with ``fill``; NHWC memory when channels_last, so the
    element-wise passes over it and the input run in the same order."""
    if channels_last:
        n, c, h, w = shape
        return xp.full((n, h, w, c), fill, dtype).transpose(0, 3, 1, 2)
    return xp.full(shape, fill, dtype)


def _offsets(xpad: np.ndarray, k: tuple, s: tuple, d: tuple, out_hw: tuple) -> list:
    """Index of each kernel offset's strided view of the padded input, row-major."""
    (ho, wo) = out_hw
    return [(slice(None), slice(None), slice(i * d[0], i * d[0] + s[0] * (ho - 1) + 1, s[0]),
             slice(j * d[1], j * d[1] + s[1] * (wo - 1) + 1, s[1]))
            for i in range(k[0]) for j in range(k[1])]


def _pad(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, out_hw: tuple,
         fill: float) -> np.ndarray:
    """x padded by p (top/left) and as much bottom/right as the last (ceil-mode) window needs;
    x itself when no padding is needed."""
    need = [(o - 1) * st + dd * (kk - 1) + 1 for o, st, dd, kk in zip(out_hw, s, d, k)]
    h, w = x.shape[2:]
    if p == (0, 0) and need[0] <= h and need[1] <= w:
        return x
    size = x.shape[:2] + (max(need[0], h + p[0]), max(need[1], w + p[1]))
    xpad = _alloc(get_array_module(x), size, x.dtype, _channels_last(x), fill)
    xpad[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    return xpad


def _tiles(xpad: np.ndarray, x: np.ndarray, k: tuple, s: tuple, d: tuple,
           out_hw: tuple) -> np.ndarray | None:
    """For windows that tile the unpadded input (stride == kernel, no padding or dilation) and
    hold more than 4 elements: the view (N, C, Ho, kh, Wo, kw) of the input, else None."""
    if xpad is not x or s != k or d != (1, 1) or k[0] * k[1] <= 4:
        return None
    (ho, wo), (kh, kw) = out_hw, k
    return xpad[:, :, :ho * kh, :wo * kw].reshape(xpad.shape[:2] + (ho, kh, wo, kw))


def _pool_size(op: str, shape: tuple, k: tuple, s: tuple, p: tuple, d: tuple,
               ceil_mode: bool) -> tuple:
    """PyTorch's output size, with its checks (padding at most half the kernel, no empty out)."""
    out = []
    for n, kk, st, pp, dd in zip(shape[2:], k, s, p, d):
        if 2 * pp > kk:
            raise ValueError(f"{op}: padding {p} must be at most half of the kernel size {k}")
        span = n + 2 * pp - dd * (kk - 1) - 1 + (st - 1 if ceil_mode else 0)
        o = span // st + 1
        if ceil_mode and (o - 1) * st >= n + pp:
            o -= 1
        if o < 1:
            raise ShapeError(f"{op}: input {shape} is smaller than the kernel {k} (padding {p}, "
                             f"dilation {d}): the output would be empty")
        out.append(o)
    return tuple(out)


def _as4d(op: str, x: Any, nd: int) -> tuple:
    """(N, C, H, W) shape that a 1-d / unbatched input is computed as."""
    xs = tuple(x.shape)
    if x.ndim not in (nd + 1, nd + 2):
        want = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise ShapeError(f"{op}: expected input {want}, got {xs}")
    xs = (1,) * (nd + 2 - x.ndim) + xs
    return xs[:2] + (1,) + xs[2:] if nd == 1 else xs


def _pool_args(op: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
               nd: int) -> tuple:
    k, p, d = (_tuple(v, nd, op, n) for v, n in (
        (kernel_size, "kernel_size"), (padding, "padding"), (dilation, "dilation")))
    s = k if stride is None or stride == [] or stride == () else _tuple(stride, nd, op, "stride")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be >= 1, got {k}, {s}, {d}")
    if nd == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    return k, s, p, d


# ---- max pooling ---------------------------------------------------------------------------


class MaxPool2d(Function):
    """y = max over each window;  dL/dx = g at the window's (first) argmax, 0 elsewhere."""

    def forward(self, x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, out_hw: tuple,
                shapes: tuple, return_indices: bool) -> Any:
        xp = get_array_module(x)
        self.shape, x = x.shape, x.reshape(shapes[0])
        self.cl, self.nc, self.hw = _channels_last(x), x.shape[:2], x.shape[2:]
        self.geom = (k, s, p, d, out_hw)
        if kernels.enabled(x) and kpool.serves(x):
            return self._forward_kernel(x, shapes, return_indices)
        xpad = _pad(x, k, s, p, d, out_hw, -np.inf)
        self.xpad, self.arg4 = xpad, None
        tiles = _tiles(xpad, x, k, s, d, out_hw)
        if tiles is not None:  # big non-overlapping windows: argmax over a copy of each tile
            flat_tiles = tiles.transpose(0, 1, 2, 4, 3, 5).reshape(x.shape[:2] + out_hw + (-1,))
            self.arg = flat_tiles.argmax(axis=-1)
            out = xp.take_along_axis(flat_tiles, self.arg[..., None], axis=-1)[..., 0]
        else:  # a few offsets, or overlapping windows: np.maximum over the offset views
            self.arg = None
            views = _offsets(xpad, k, s, d, out_hw)
            out = xpad[views[0]].copy(order="K")
            for v in views[1:]:
                xp.maximum(out, xpad[v], out=out)
        self.out, self.out_shape = out, shapes[1]
        if not return_indices:
            return out.reshape(shapes[1])
        arg = self.arg
        if arg is None:  # the offset of each window's first max
            arg = xp.zeros(out.shape, np.int32)
            for o, (_, eq) in enumerate(self._first_max(views)):
                xp.copyto(arg, o, where=eq)
        return out.reshape(shapes[1]), self._indices(arg)

    def _indices(self, arg: np.ndarray) -> np.ndarray:
        """PyTorch's indices, int64, from the offsets o = i * kw + j of the maxima (N, C, Ho, Wo):
        the flat h * W + w of each max in its (H, W) plane."""
        k, s, p, d, out_hw = self.geom
        xp = get_array_module(arg)
        rows, cols = (xp.arange(n) * st - pp for n, st, pp in zip(out_hw, s, p))
        i, j = xp.divmod(arg.astype(np.int64), k[1])
        flat = (rows[:, None] + i * d[0]) * self.hw[1] + cols + j * d[1]
        return flat.reshape(self.out_shape)

    def _forward_kernel(self, x: np.ndarray, shapes: tuple, return_indices: bool) -> Any:
        """Fast path (deepwise.kernels.pool): the max of each window and the offset of its first
        max in one pass over x in NHWC memory order (NCHW memory is transposed first); saves the
        offsets (int8), not the input. The output is an NCHW view of NHWC memory."""
        k, s, p, d, out_hw = self.geom
        out4, self.arg4 = kpool.max_pool_forward(x.transpose(0, 2, 3, 1), k, s, p, d, out_hw)
        self.out_shape = shapes[1]
        out = out4.transpose(0, 3, 1, 2).reshape(shapes[1])
        if not return_indices:
            return out
        return out, self._indices(self.arg4.transpose(0, 3, 1, 2))

    def _first_max(self, views: list) -> Any:
        """Per offset: (its view, mask of the windows whose FIRST max sits at that offset)."""
        xpad, out = self.xpad, self.out
        free = None  # windows whose max was not found at an earlier offset
        for n, v in enumerate(views, 1):
            eq = get_array_module(out).equal(xpad[v], out)
            if free is None:
                free = ~eq
            else:
                eq &= free
                if n < len(views):
                    free ^= eq
            yield v, eq

    def backward(self, g: np.ndarray, *_: Any) -> np.ndarray:
        k, s, p, d, out_hw = self.geom
        if self.arg4 is not None:  # fast path: g written (or added) at each saved offset
            g = _same_layout(g.reshape(self.nc + out_hw), True).transpose(0, 2, 3, 1)
            dx4 = kpool.max_pool_backward(g, self.arg4, self.hw, k, s, p, d)
            return dx4.transpose(0, 3, 1, 2).reshape(self.shape)
        g = _same_layout(g.reshape(self.out.shape), _channels_last(self.out))
        xp = get_array_module(g)
        overlap = s[0] < d[0] * (k[0] - 1) + 1 or s[1] < d[1] * (k[1] - 1) + 1
        tiled = (d == (1, 1) and s == k and out_hw[0] * s[0] == self.xpad.shape[2]
                 and out_hw[1] * s[1] == self.xpad.shape[3])  # dilated windows skip elements
        # when the windows tile the padded input exactly, every element is written below once
        dxp = xp.empty_like(self.xpad) if tiled else xp.zeros_like(self.xpad)
        if self.arg is not None:
            onehot = self.arg[..., None] == xp.arange(k[0] * k[1])
            tiles = (onehot * g[..., None]).reshape(g.shape + k).transpose(0, 1, 2, 4, 3, 5)
            _tiles(dxp, dxp, k, s, d, out_hw)[...] = tiles
            return dxp.reshape(self.shape)
        for v, eq in self._first_max(_offsets(self.xpad, k, s, d, out_hw)):
            if overlap:
                xp.add(dxp[v], g, out=dxp[v], where=eq)
            else:  # each input element is in at most one window: write, no accumulation
                xp.multiply(g, eq, out=dxp[v])
        (h, w) = self.hw
        return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w].reshape(self.shape)


def _max_pool(op: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    shape4 = _as4d(op, input, nd)
    k, s, p, d = _pool_args(op, kernel_size, stride, padding, dilation, nd)
    out_hw = _pool_size(op, shape4, k, s, p, d, ceil_mode)
    out_shape = tuple(input.shape[:-nd]) + out_hw[2 - nd:]
    return MaxPool2d.apply(input, k=k, s=s, p=p, d=d, out_hw=out_hw, shapes=(shape4, out_shape),
                           return_indices=bool(return_indices))


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-D max pooling: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo). stride defaults to
    kernel_size; padding pads with -inf (at most half the kernel); ceil_mode keeps a last
    partial window that starts inside the input. return_indices also returns, as int64, the
    flat index h * W + w of each max in its (H, W) plane (for max_unpool)."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-D max pooling: (N, C, L) or (C, L) -> (N, C, Lo) (see max_pool2d)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


# ---- average pooling -----------------------------------------------------------------------


def _divisor(size: int, k: int, s: int, p: int, n_out: int, include_pad: bool) -> np.ndarray:
    """How many elements each window along one axis averages (PyTorch's rule: windows are
    clipped to the padded input; without count_include_pad, to the input itself)."""
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, size + p)
    if include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPool2d(Function):
    """y = mean over each window (sum / divisor);  dL/dx = sum over the windows holding x of
    g / divisor."""

    def forward(self, x: np.ndarray, k: tuple, s: tuple, p: tuple, out_hw: tuple,
                shapes: tuple, include_pad: bool, divisor_override: int | None) -> np.ndarray:
        self.shape, x = x.shape, x.reshape(shapes[0])
        if divisor_override:
            scale = 1.0 / divisor_override
        else:
            dh, dw = (_divisor(n, kk, st, pp, o, include_pad)
                      for n, kk, st, pp, o in zip(x.shape[2:], k, s, p, out_hw))
            div = dh[:, None] * dw
            scale = (1.0 / div[0, 0] if (div == div[0, 0]).all()
                     else get_array_module(x).asarray((1.0 / div).astype(x.dtype)))
        self.scale, self.hw, self.geom = scale, x.shape[2:], (k, s, p, out_hw)
        if kernels.enabled(x) and kpool.serves(x):
            return self._forward_kernel(x, shapes)
        self.kscale = None
        xpad = _pad(x, k, s, p, (1, 1), out_hw, 0.0)
        tiles = _tiles(xpad, x, k, s, (1, 1), out_hw)
        if tiles is not None:  # big non-overlapping windows: one sum over the tiles
            out = tiles.sum(axis=(3, 5))
        else:  # a few offsets, or overlapping windows: add up the offset views
            views = _offsets(xpad, k, s, (1, 1), out_hw)
            out = xpad[views[0]].copy(order="K")
            for v in views[1:]:
                out += xpad[v]
        self.tiled = tiles is not None
        out *= scale
        self.xpshape, self.cl = xpad.shape, _channels_last(xpad)
        return out.reshape(shapes[1])

    def _forward_kernel(self, x: np.ndarray, shapes: tuple) -> np.ndarray:
        """Fast path (deepwise.kernels.pool): each window's sum times its scale in one pass over
        x in NHWC memory order (NCHW memory is transposed first); the output is an NCHW view of
        NHWC memory."""
        k, s, p, out_hw = self.geom
        self.nc = x.shape[:2]
        self.kscale = np.ascontiguousarray(np.broadcast_to(np.asarray(self.scale, x.dtype), out_hw))
        out = kpool.avg_pool_forward(x.transpose(0, 2, 3, 1), self.kscale, k, s, p)
        return out.transpose(0, 3, 1, 2).reshape(shapes[1])

    def backward(self, g: np.ndarray) -> np.ndarray:
        k, s, p, out_hw = self.geom
        if self.kscale is not None:  # fast path: g * scale added over each window, one pass
            g = _same_layout(g.reshape(self.nc + out_hw), True).transpose(0, 2, 3, 1)
            dx = kpool.avg_pool_backward(g, self.kscale, self.hw, k, s, p)
            return dx.transpose(0, 3, 1, 2).reshape(self.shape)
        gs = _same_layout(g.reshape(self.xpshape[:2] + out_hw), self.cl) * self.scale
        dxp = _alloc(get_array_module(gs), self.xpshape, gs.dtype, self.cl, 0.0)
        if self.tiled:
            _tiles(dxp, dxp, k, s, (1, 1), out_hw)[...] = gs[:, :, :, None, :, None]
        for v in _offsets(dxp, k, s, (1, 1), out_hw) if not self.tiled else ():
            dxp[v] += gs
        (h, w) = self.hw
        return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w].reshape(self.shape)


def _avg_pool(op: str, nd: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Tensor:
    shape4 = _as4d(op, input, nd)
    k, s, p, d = _pool_args(op, kernel_size, stride, padding, 1, nd)
    out_hw = _pool_size(op, shape4, k, s, p, d, ceil_mode)
    out_shape = tuple(input.shape[:-nd]) + out_hw[2 - nd:]
    return AvgPool2d.apply(input, k=k, s=s, p=p, out_hw=out_hw, shapes=(shape4, out_shape),
                           include_pad=bool(count_include_pad), divisor_override=divisor_override)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo). Zero padding counts
    in the divisor when count_include_pad (the default); divisor_override replaces it."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-D average pooling: (N, C, L) or (C, L) -> (N, C, Lo) (see avg_pool2d)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


# ---- adaptive pooling ----------------------------------------------------------------------


def _adaptive_args(op: str, input: Tensor, output_size: Any) -> tuple:
    shape4 = _as4d(op, input, 2)
    size = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) else output_size
    if size is None or len(size) != 2:
        raise ValueError(f"{op}: output_size must be an int or (H, W), got {output_size!r}")
    size = tuple(int(n if o is None else o) for o, n in zip(size, shape4[2:]))
    if min(size) < 1 or min(shape4[2:]) < 1:
        raise ShapeError(f"{op}: expected a non-empty input and output_size >= 1, got input "
                         f"{tuple(input.shape)} and output_size {output_size!r}")
    return shape4, size, tuple(input.shape[:-2]) + size


def _bins(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive bins of n inputs into m outputs: [floor(i*n/m), ceil((i+1)*n/m))."""
    i = np.arange(m)
    return i * n // m, -(-(i + 1) * n // m)


def _bin_matrix(n: int, m: int, dtype: Any) -> np.ndarray:
    """(m, n) averaging matrix: row i holds 1/len over bin i."""
    start, end = _bins(n, m)
    j = np.arange(n)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """y = A_h x A_w^T (separable bin averages);  dL/dx = A_h^T g A_w."""

    def forward(self, x: np.ndarray, shapes: tuple) -> np.ndarray:
        self.shape, x = x.shape, x.reshape(shapes[0])
        (h, w), (ho, wo) = x.shape[2:], shapes[1][-2:]
        self.ah, self.aw = _bin_matrix(h, ho, x.dtype), _bin_matrix(w, wo, x.dtype)
        xp = get_array_module(x)
        self.ah, self.aw = xp.asarray(self.ah), xp.asarray(self.aw)
        t = xp.matmul(x, self.aw.T)  # (N, C, H, Wo)
        return xp.matmul(self.ah, t).reshape(shapes[1])

    def backward(self, g: np.ndarray) -> np.ndarray:
        g = g.reshape(self.shape[:-2] + g.shape[-2:])
        xp = get_array_module(g)
        return xp.matmul(xp.matmul(self.ah.T, g), self.aw).reshape(self.shape)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (N, C, H, W) -> (N, C, *output_size); None in
    output_size keeps that input size. Divisible sizes are avg_pool2d(kernel = in // out)."""
    shape4, size, out_shape = _adaptive_args("adaptive_avg_pool2d", input, output_size)
    if shape4[2] % size[0] == 0 and shape4[3] % size[1] == 0:
        k = (shape4[2] // size[0], shape4[3] // size[1])
        return AvgPool2d.apply(input, k=k, s=k, p=(0, 0), out_hw=size,
                               shapes=(shape4, out_shape), include_pad=True,
                               divisor_override=None)
    return AdaptiveAvgPool2d.apply(input, shapes=(shape4, out_shape))


class AdaptiveMaxPool2d(Function):
    """y = max over each adaptive bin;  dL/dx = g at the bin's (first) argmax."""

    def forward(self, x: np.ndarray, shapes: tuple) -> tuple:
        self.shape, x = x.shape, x.reshape(shapes[0])
        (h, w), (ho, wo) = x.shape[2:], shapes[1][-2:]
        (sh, eh), (sw, ew) = _bins(h, ho), _bins(w, wo)
        xp = get_array_module(x)
        out = idx = None
        for i in range(int((eh - sh).max())):  # offsets inside the largest bin; a shorter
            rows = np.minimum(sh + i, eh - 1)   # bin repeats its last row/column
            for j in range(int((ew - sw).max())):
                cols = np.minimum(sw + j, ew - 1)
                v = x[:, :, xp.asarray(rows[:, None]), xp.asarray(cols)]
                flat = xp.asarray(rows[:, None] * w + cols)
                if out is None:
                    out, idx = v, xp.broadcast_to(flat, v.shape).copy()
                    continue
                bigger = v > out
                xp.copyto(out, v, where=bigger)
                xp.copyto(idx, flat, where=bigger)
        self.idx = idx
        return out.reshape(shapes[1]), idx.reshape(shapes[1])

    def backward(self, g: np.ndarray, _: Any) -> np.ndarray:
        n, c = self.idx.shape[:2]
        size = int(np.prod(self.shape))
        xp = get_array_module(g)
        where = self.idx + (xp.arange(n * c) * (size // (n * c))).reshape(n, c, 1, 1)
        dx = xp.bincount(where.ravel(), weights=g.reshape(where.shape).ravel(), minlength=size)
        return dx.astype(g.dtype).reshape(self.shape)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling to a fixed output size (N, C, H, W) -> (N, C, *output_size); return_indices
    also returns the int64 flat index h * W + w of each max."""
    op = "adaptive_max_pool2d"
    shape4, size, out_shape = _adaptive_args(op, input, output_size)
    if shape4[2] % size[0] == 0 and shape4[3] % size[1] == 0:
        k = (shape4[2] // size[0], shape4[3] // size[1])
        return MaxPool2d.apply(input, k=k, s=k, p=(0, 0), d=(1, 1), out_hw=size,
                               shapes=(shape4, out_shape), return_indices=bool(return_indices))
    out, idx = AdaptiveMaxPool2d.apply(input, shapes=(shape4, out_shape))
    return (out, idx) if return_indices else out
