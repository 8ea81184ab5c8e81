"""Shape ops: views and rearrangements of elements; gradients move elements back.

Most ops here are views (reshape, permute, expand, basic indexing, flip): forward does no
arithmetic, and backward puts each gradient element back where its input element came from.
Two kinds of backward exist:

* each input element appears at most once in the output (slices, cat, split, pad, a boolean
  mask): the gradient is *written* into a zeros array (``gx[index] = g``), or is a view of ``g``;
* an element may appear several times (integer-array indexing, gather, index_select, expand,
  repeat, reflect/replicate padding): the copies' gradients are *added* (a scatter-add).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd import DimError, Function, ShapeError, unbroadcast
from ..backend import get_array_module
from ..tensor import Tensor
from . import arith as _arith
from . import index as _index

__all__ = [
    'reshape', 'view', 'flatten', 'unflatten', 'squeeze', 'unsqueeze', 'permute', 'transpose',
    'expand', 'expand_as', 'broadcast_to', 'repeat', 'cat', 'concat', 'stack', 'split', 'chunk',
    'pad', 'narrow', 'flip', 'roll',
]

TENSOR_METHODS = ("reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "transpose",
                  "permute", "expand", "expand_as", "broadcast_to", "repeat", "split", "chunk",
                  "narrow", "flip", "roll")
__all__ += ["t", "view_as", "reshape_as", "unbind", "swapaxes", "movedim"]
TENSOR_METHODS += ("t", "view_as", "reshape_as", "unbind", "swapaxes", "movedim")


def _dim(dim: Any, shape: tuple, op: str, extra: int = 0) -> int:
    """``dim`` as a non-negative axis of a tensor of ``shape`` (``extra`` = 1 for a new axis)."""
    n = max(len(shape) + extra, 1)
    if not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        raise DimError(f"{op}: dim {dim!r} is out of range for a tensor of shape {tuple(shape)}; "
                       f"expected an int in [{-n}, {n - 1}]")
    return int(dim) % n


def _need_dims(x: Tensor, op: str) -> tuple:
    if x.ndim == 0:
        raise ShapeError(f"{op}: expected a tensor with at least 1 dim, got a 0-d tensor")
    return x.shape


def _ax(dim: int, index: Any) -> tuple:
    """The index tuple that applies ``index`` to axis ``dim`` only: (:, :, index)."""
    return (slice(None),) * dim + (index,)


def _ints(args: Sequence[Any]) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))`` -> (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(a) for a in args)


# ---- reshaping: same elements, same order, new shape -----------------------------------------


class Reshape(Function):
    """y = x viewed with a new shape;  dL/dx = dL/dy reshaped back to x's shape."""

    def forward(self, x: np.ndarray, shape: tuple = ()) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.reshape(self.shape)


def _infer(shape: tuple, n: int, op: str, what: str) -> tuple:
    """Resolve one -1 in ``shape`` so that it holds ``n`` elements."""
    known = math.prod(s for s in shape if s != -1)
    if any(s < -1 for s in shape) or shape.count(-1) > 1 or (
            -1 in shape and (known == 0 or n % known)) or (-1 not in shape and known != n):
        raise ShapeError(f"{op}: cannot reshape {what} ({n} elements) into {shape}")
    return tuple(n // known if s == -1 else s for s in shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``; one dimension may be -1 (inferred).

    (N, 6).reshape(N, 2, 3) -> (N, 2, 3). A view of x where NumPy can make one.
    """
    shape = _infer(_ints(shape), x.data.size, "reshape", f"a tensor of shape {tuple(x.shape)}")
    return Reshape.apply(x, shape=shape)


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one: (N, C, H, W).flatten(1) -> (N, C*H*W)."""
    s, e = _dim(start_dim, x.shape, "flatten"), _dim(end_dim, x.shape, "flatten")
    if x.ndim == 0:
        return Reshape.apply(x, shape=(1,))
    if s > e:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {tuple(x.shape)}")
    sh = x.shape
    return Reshape.apply(x, shape=sh[:s] + (math.prod(sh[s:e + 1]),) + sh[e + 1:])


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split one dim into several: (N, 12).unflatten(1, (3, -1)) -> (N, 3, 4)."""
    d = _dim(dim, x.shape, "unflatten")
    sh = x.shape
    new = _infer(tuple(int(s) for s in sizes), sh[d], "unflatten",
                 f"dim {dim} of size {sh[d]} of a tensor of shape {tuple(sh)}")
    return Reshape.apply(x, shape=sh[:d] + new + sh[d + 1:])


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 dims (all, or those in ``dim`` that have size 1): (N, 1, 5) -> (N, 5)."""
    if dim is None:
        dims = range(x.ndim)
    else:
        dims = [_dim(d, x.shape, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)]
    drop = {d for d in dims if x.ndim and x.shape[d] == 1}
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in drop))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim``: (N, 5).unsqueeze(1) -> (N, 1, 5); -1 appends one."""
    d = _dim(dim, x.shape, "unsqueeze", extra=1)
    return Reshape.apply(x, shape=x.shape[:d] + (1,) + x.shape[d:])


class Permute(Function):
    """y = x with its axes reordered;  dL/dx = dL/dy with the inverse order."""

    def forward(self, x: np.ndarray, dims: tuple = ()) -> np.ndarray:
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        return g.transpose(xp.argsort(self.dims))


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder the axes (a view): (N, H, W, C).permute(0, 3, 1, 2) -> (N, C, H, W)."""
    dims = tuple(_dim(d, x.shape, "permute") for d in _ints(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise ShapeError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of a "
                         f"tensor of shape {tuple(x.shape)}")
    return Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes (a view): (N, T, C).transpose(1, 2) -> (N, C, T)."""
    d0, d1 = _dim(dim0, x.shape, "transpose"), _dim(dim1, x.shape, "transpose")
    dims = list(range(x.ndim))
    if x.ndim:
        dims[d0], dims[d1] = d1, d0
    return Permute.apply(x, dims=tuple(dims))


# ---- broadcasting and tiling: elements used several times, gradients summed ---------------


class Expand(Function):
    """y = x broadcast to a larger shape (a read-only view);  dL/dx = dL/dy summed over the
    broadcast axes."""

    def forward(self, x: np.ndarray, shape: tuple = ()) -> np.ndarray:
        xp = get_array_module(x)
        self.shape = x.shape
        return xp.broadcast_to(x, shape)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return unbroadcast(g, self.shape)


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """Broadcast size-1 dims (and new leading dims) to ``sizes``; -1 keeps a dim's size.

    (3, 1).expand(2, 3, 4) -> (2, 3, 4), without copying.
    """
    sizes, sh = _ints(sizes), tuple(x.shape)
    lead = len(sizes) - len(sh)
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {sh}; "
                         f"expected at least {len(sh)}")
    out = []
    for i, s in enumerate(sizes):
        n = sh[i - lead] if i >= lead else None
        if s == -1 and n is not None:
            s = n
        if s < 0 or (n is not None and n != 1 and s != n):
            raise ShapeError(f"expand: cannot expand shape {sh} to {sizes}: dim {i} has size "
                             f"{n if n is not None else '(new)'}; only size-1 dims can be "
                             "expanded and -1 is only for existing dims")
        out.append(s)
    return Expand.apply(x, shape=tuple(out))


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    """``x.expand(other.shape)``."""
    return expand(x, tuple(other.shape))


def broadcast_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """``x.expand(size)`` (PyTorch's torch.broadcast_to)."""
    return expand(x, tuple(size))


class Repeat(Function):
    """y = x tiled reps[i] times along each dim;  dL/dx = sum of dL/dy over the tiles."""

    def forward(self, x: np.ndarray, reps: tuple = ()) -> np.ndarray:
        xp = get_array_module(x)
        self.shape = x.shape
        self.padded = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return xp.tile(x.reshape(self.padded), reps)

    def backward(self, g: np.ndarray) -> np.ndarray:
        pairs = [v for r, n in zip(self.reps, self.padded) for v in (r, n)]
        return g.reshape(pairs).sum(axis=tuple(range(0, len(pairs), 2))).reshape(self.shape)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """Tile x: (2, 3).repeat(4, 1, 2) -> (4, 2, 6) (copies, unlike expand)."""
    reps = _ints(sizes)
    if len(reps) < x.ndim or any(r < 0 for r in reps):
        raise ShapeError(f"repeat: sizes {reps} for a tensor of shape {tuple(x.shape)}; expected "
                         f"at least {x.ndim} non-negative repeat counts")
    return Repeat.apply(x, reps=reps)


# ---- joining and splitting along a dim ---------------------------------------------------


def _common(tensors: Any, op: str) -> list:
    """The inputs of cat/stack as tensors of one dtype (PyTorch's promotion: floats win)."""
    xp = get_array_module(tensors, op)
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    dtypes = {t.dtype for t in ts}
    if len(dtypes) > 1:
        floats = [d for d in dtypes if d.kind == "f"]
        dt = xp.result_type(*floats) if floats else xp.result_type(*dtypes)
        ts = [_arith.cast(t, dt) for t in ts]
    return ts


class Cat(Function):
    """y = [x_1, x_2, ...] joined along dim;  dL/dx_k = the slice of dL/dy where x_k went."""

    def forward(self, *xs: np.ndarray, dim: int = 0) -> np.ndarray:
        xp = get_array_module(*xs)
        self.dim = dim
        self.bounds = np.cumsum([0] + [x.shape[dim] for x in xs]).tolist()
        return xp.concatenate(xs, axis=dim)

    def backward(self, g: np.ndarray) -> tuple:
        b, d = self.bounds, self.dim
        return tuple(g[_ax(d, slice(b[i], b[i + 1]))] if need else None
                     for i, need in enumerate(self.needs_input_grad))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim: [(2, 3), (4, 3)] -> (6, 3) for dim=0.

    All shapes must match except in ``dim``. 1-D empty tensors are skipped (PyTorch's legacy
    rule, so ``out = cat([empty(0), x])`` accumulates).
    """
    ts = _common(tensors, "cat")
    if len(ts) > 1:
        ts = [t for t in ts if t.shape != (0,)] or ts[:1]
    ref = ts[0]
    d = _dim(dim, _need_dims(ref, "cat"), "cat")
    for t in ts[1:]:
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ShapeError(f"cat: tensors must have the same shape except in dim {dim}; got "
                             f"{tuple(ref.shape)} and {tuple(t.shape)}")
    return Cat.apply(*ts, dim=d)


concat = cat


class Stack(Function):
    """y[..., k, ...] = x_k along a new dim;  dL/dx_k = dL/dy[..., k, ...]."""

    def forward(self, *xs: np.ndarray, dim: int = 0) -> np.ndarray:
        xp = get_array_module(*xs)
        self.dim = dim
        return xp.stack(xs, axis=dim)

    def backward(self, g: np.ndarray) -> tuple:
        return tuple(g[_ax(self.dim, k)] if need else None
                     for k, need in enumerate(self.needs_input_grad))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim: 4 x (2, 3) -> (4, 2, 3) for dim=0."""
    ts = _common(tensors, "stack")
    for k, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ShapeError(f"stack: tensors must all have the same shape; got "
                             f"{tuple(ts[0].shape)} at entry 0 and {tuple(t.shape)} at entry {k}")
    return Stack.apply(*ts, dim=_dim(dim, ts[0].shape, "stack", extra=1))


class Split(Function):
    """y_k = x[..., b_k:b_{k+1}, ...] along dim (views; one node with several outputs);
    dL/dx = the dL/dy_k joined back along dim (zeros for unused pieces)."""

    def forward(self, x: np.ndarray, sizes: tuple = (), dim: int = 0) -> tuple:
        self.dim = dim
        b = np.cumsum((0,) + sizes).tolist()
        return tuple(x[_ax(dim, slice(b[i], b[i + 1]))] for i in range(len(sizes)))

    def backward(self, *gs: np.ndarray) -> np.ndarray:
        xp = get_array_module(*gs)
        return xp.concatenate(gs, axis=self.dim)


def split(x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple:
    """Cut x along ``dim`` into pieces of ``split_size`` (the last may be smaller), or of the
    given sizes: (5, 3).split([2, 3]) -> (2, 3), (3, 3). Returns a tuple of views."""
    d = _dim(dim, _need_dims(x, "split"), "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = int(split_size_or_sections)
        if s < 0 or (s == 0 and n):
            raise ShapeError(f"split: split_size must be positive (0 only for an empty dim), "
                             f"got {s} for dim {dim} of size {n}")
        sizes = (s,) * (n // s) + ((n % s,) if n % s else ()) if s else (0,)
    else:
        sizes = tuple(int(s) for s in split_size_or_sections)
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ShapeError(f"split: sizes {list(sizes)} must be non-negative and add up to "
                             f"{n}, the size of dim {dim} of a tensor of shape {tuple(x.shape)}")
    return Split.apply(x, sizes=sizes or (0,), dim=d)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut x into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer if they run out):
    size 6 in 4 chunks -> 2, 2, 2."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_dim(dim, _need_dims(x, "chunk"), "chunk")]
    if n == 0:
        return split(x, [0] * chunks, dim)
    return split(x, -(-n // chunks), dim)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``x`` restricted to ``start:start+length`` along ``dim`` (a view); start may be < 0."""
    d = _dim(dim, _need_dims(x, "narrow"), "narrow")
    n, start, length = x.shape[d], int(start), int(length)
    if not -n <= start <= n or length < 0 or (start % n if n else 0) + length > n:
        raise ShapeError(f"narrow: start {start} and length {length} do not fit dim {dim} of "
                         f"size {n} (tensor of shape {tuple(x.shape)})")
    start = start % n if n else 0
    return _index.getitem(x, _ax(d, slice(start, start + length)))


# ---- padding ---------------------------------------------------------------------------------


class Pad(Function):
    """y = x with borders added (constant / reflect / replicate / circular);
    dL/dx = the centre of dL/dy, plus (for the copying modes) the border gradients added to
    the elements they copied."""

    def forward(self, x: np.ndarray, widths: tuple = (), mode: str = "constant",
                value: float = 0.0) -> np.ndarray:
        xp = get_array_module(x)
        self.widths, self.mode = widths, mode
        self.centre = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        if mode == "constant":
            out = xp.full([n + lo + hi for (lo, hi), n in zip(widths, x.shape)], value, x.dtype)
            out[self.centre] = x
            return out
        return xp.pad(x, widths, mode={"replicate": "edge", "circular": "wrap"}.get(mode, mode))

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        if self.mode == "constant":
            return g[self.centre]
        for d, (lo, hi) in enumerate(self.widths):
            if not lo and not hi:
                continue
            n = g.shape[d] - lo - hi
            gx = g[_ax(d, slice(lo, lo + n))].copy()
            left, right = g[_ax(d, slice(0, lo))], g[_ax(d, slice(lo + n, None))]
            if self.mode == "reflect":  # out[lo-j] = x[j]: the left border mirrors x[1:lo+1]
                gx[_ax(d, slice(1, lo + 1))] += xp.flip(left, d)
                gx[_ax(d, slice(n - 1 - hi, n - 1))] += xp.flip(right, d)
            elif self.mode == "replicate":  # every border element copies x[0] or x[n-1]
                gx[_ax(d, slice(0, 1))] += left.sum(d, keepdims=True)
                gx[_ax(d, slice(n - 1, n))] += right.sum(d, keepdims=True)
            else:  # circular: the left border is x[n-lo:], the right one x[:hi]
                gx[_ax(d, slice(n - lo, n))] += left
                gx[_ax(d, slice(0, hi))] += right
            g = gx
        return g


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pad the last len(pad)//2 dims; ``pad`` lists (left, right) for the LAST dim first:
    ``pad(x, (1, 1, 2, 0))`` adds 1 column on each side and 2 rows on top.
    (N, C, H, W) -> (N, C, H + 2, W + 2). Negative amounts crop. Modes: 'constant' (``value``,
    default 0), 'reflect' (mirror without the edge), 'replicate' (repeat the edge), 'circular'.
    Non-constant modes pad the last 1-3 dims of a batched or unbatched input, as in PyTorch.
    """
    pad = tuple(int(p) for p in pad)
    k, sh = len(pad) // 2, tuple(x.shape)
    if len(pad) % 2 or k > len(sh):
        raise ShapeError(f"pad: pad {pad} must have an even length of at most 2 * {len(sh)} "
                         f"(two amounts per padded dim) for a tensor of shape {sh}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {_PAD_MODES}")
    if mode != "constant":
        if value is not None:
            raise ValueError(f"pad: mode {mode!r} takes no value (got value={value})")
        if k not in (1, 2, 3) or len(sh) not in (k + 1, k + 2):
            raise ShapeError(f"pad: mode {mode!r} with {len(pad)} amounts pads the last {k} dims "
                             f"of a {k + 1}-D or {k + 2}-D input; got shape {sh}")
    widths = [(0, 0)] * (len(sh) - k) + [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]
    if any(lo < 0 or hi < 0 for lo, hi in widths):  # crop first, then pad
        crop = tuple(slice(-min(lo, 0), n + min(hi, 0)) for (lo, hi), n in zip(widths, sh))
        if any(c.start > c.stop for c in crop):
            raise ShapeError(f"pad: negative pad {pad} crops more than the shape {sh} holds")
        x = _index.getitem(x, crop)
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if mode == "constant" or not (lo or hi):
            continue
        limit = {"reflect": n - 1, "circular": n}.get(mode, n and max(lo, hi))
        if max(lo, hi) > limit or n == 0:
            raise ShapeError(f"pad: mode {mode!r} needs a non-empty dim and pad amounts of at "
                             f"most {limit} (reflect: size - 1, circular: size); got ({lo}, {hi}) "
                             f"for dim {d} of size {n} (input shape {sh})")
    return Pad.apply(x, widths=tuple(widths), mode=mode, value=0.0 if value is None else value)


# ---- flips and rolls ---------------------------------------------------------------------------


class Flip(Function):
    """y = x reversed along dims (a view);  dL/dx = dL/dy reversed along the same dims."""

    def forward(self, x: np.ndarray, dims: tuple = ()) -> np.ndarray:
        xp = get_array_module(x)
        self.dims = dims
        return xp.flip(x, dims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        return xp.flip(g, self.dims)


def flip(x: Tensor, *dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims``: ``x.flip(0)``, ``flip(x, (0, 2))``."""
    dims = tuple(_dim(d, x.shape, "flip") for d in _ints(dims))
    if len(set(dims)) != len(dims):
        raise ShapeError(f"flip: dims {dims} name a dim twice (tensor of shape {tuple(x.shape)})")
    return Flip.apply(x, dims=dims)


class Roll(Function):
    """y = x shifted cyclically along dims;  dL/dx = dL/dy shifted back."""

    def forward(self, x: np.ndarray, shifts: Any = 0, dims: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        self.shifts, self.dims = shifts, dims
        return xp.roll(x, shifts, dims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        back = -self.shifts if isinstance(self.shifts, int) else tuple(-s for s in self.shifts)
        return xp.roll(g, back, self.dims)


def roll(x: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift elements cyclically: ``roll(x, 1, 0)`` moves row i to i+1 and the last row first.
    Without ``dims``, x is rolled as if flattened."""
    if dims is None:
        if not isinstance(shifts, (int, np.integer)):
            raise ShapeError(f"roll: without dims, shifts must be one int, got {shifts}")
        return Roll.apply(x, shifts=int(shifts), dims=None)
    sh = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(sh) != len(ds):
        raise ShapeError(f"roll: {len(sh)} shifts {sh} for {len(ds)} dims {ds}; expected one "
                         "shift per dim")
    ds = tuple(_dim(d, x.shape, "roll") for d in ds)
    return Roll.apply(x, shifts=tuple(int(s) for s in sh), dims=ds)


# ---- indexing ------------------------------------------------------------------------------


# ---- PyTorch's shorthands, built on the ops above ---------------------------------------------


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix (a vector or a scalar as it is): (n, m) -> (m, n)."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got shape {tuple(x.shape)}; "
                         "use transpose(dim0, dim1) or permute for more")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def view_as(x: Tensor, other: Tensor) -> Tensor:
    """``x.view(other.shape)``: the same elements in ``other``'s shape."""
    return view(x, tuple(other.shape))


def reshape_as(x: Tensor, other: Tensor) -> Tensor:
    """``x.reshape(other.shape)``."""
    return reshape(x, tuple(other.shape))


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """NumPy's name for :func:`transpose`."""
    return transpose(x, axis0, axis1)


def movedim(x: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes ``source`` to positions ``destination`` (the others keep their order)."""
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ShapeError(f"movedim: {len(src)} source dims but {len(dst)} destinations")
    src = [_dim(d, x.shape, "movedim") for d in src]
    dst = [_dim(d, x.shape, "movedim") for d in dst]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, *order)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    """The slices of x along ``dim``, that axis removed: (3, 4).unbind(0) -> three (4,) tensors."""
    d = _dim(dim, _need_dims(x, "unbind"), "unbind")
    return tuple(squeeze(p, d) for p in split(x, 1, d)) if x.shape[d] else ()
