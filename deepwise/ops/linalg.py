"""Linear algebra: matmul (all of NumPy's batching rules), bmm, and the fused linear layer op."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function, ShapeError, unbroadcast
from ..backend import get_array_module
from ..tensor import Tensor, check_dtypes

__all__ = [
    'matmul', 'bmm', 'linear',
]
__all__ += ['mm', 'mv', 'dot', 'outer', 'einsum']

TENSOR_METHODS = ("matmul", "bmm")
TENSOR_METHODS += ("mm", "mv", "dot", "outer")


def _matmul_shapes(op: str, sa: tuple, sb: tuple) -> None:
    """Raise ShapeError naming ``op`` and both shapes unless ``sa @ sb`` is defined."""
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError(f"{op}: both operands need at least 1 dimension, got {sa} @ {sb}")
    ka = sa[-1]
    kb = sb[-2] if len(sb) >= 2 else sb[0]
    if ka != kb:
        raise ShapeError(f"{op}: {sa} @ {sb}: inner dimensions differ ({ka} vs {kb})")
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"{op}: {sa} @ {sb}: batch dimensions {sa[:-2]} and {sb[:-2]} do "
                             "not broadcast") from None


def _rows(x: np.ndarray) -> np.ndarray:
    """(..., k) -> (prod(...), k): the leading dims folded into the rows of one matrix."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


class MatMul(Function):
    """Y = A @ B;  dL/dA = dL/dY @ B^T,  dL/dB = A^T @ dL/dY (summed over broadcast batches)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xp = get_array_module(a, b)
        self.a, self.b = a, b
        if a.ndim > 2 and b.ndim <= 2:
            # a batch of matrices against one matrix (or vector): fold the batch into the rows of
            # one GEMM; np.matmul would call one small GEMM per matrix (1.1-4x slower measured)
            return (_rows(a) @ b).reshape(*a.shape[:-1], *b.shape[1:])
        return xp.matmul(a, b)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        a, b = self.a, self.b
        na, nb = self.needs_input_grad
        ga = gb = None
        # 1-D operands are promoted to matrices (a: (1, k), b: (k, 1)) and the axis removed after
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g[..., None] if b.ndim == 1 else g  # restore the removed m axis, then the n axis
        if a.ndim == 1:
            g2 = g2[..., None, :]
        if na:
            if a2.ndim > 2 and b2.ndim == 2:  # the folded GEMM again: no batch to sum over
                ga = (_rows(g2) @ b2.T).reshape(a2.shape)
            else:
                ga = unbroadcast(xp.matmul(g2, xp.swapaxes(b2, -1, -2)), a2.shape)
            ga = ga[0] if a.ndim == 1 else ga
        if nb:
            if b2.ndim == 2 and a2.ndim > 2:
                # a batch of matrices against one shared matrix: fold the batch into one GEMM
                gb = _rows(a2).T @ _rows(g2)
            else:
                gb = unbroadcast(xp.matmul(xp.swapaxes(a2, -1, -2), g2), b2.shape)
            gb = gb[:, 0] if b.ndim == 1 else gb
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast.
    Both operands need one dtype (PyTorch's rule: no silent promotion; DTypeError otherwise).

    Shape: (..., n, k) @ (..., k, m) -> (..., n, m).
    """
    xp = get_array_module(a, b)
    _matmul_shapes("matmul", xp.shape(a.data if isinstance(a, Tensor) else a),
                   xp.shape(b.data if isinstance(b, Tensor) else b))
    check_dtypes("matmul (a @ b)", a, b, ("a", "b"))
    return MatMul.apply(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of 3-D tensors: (B, n, k) @ (B, k, m) -> (B, n, m)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: expected (B, n, k) and (B, k, m) with the same B, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    _matmul_shapes("bmm", tuple(a.shape), tuple(b.shape))
    check_dtypes("bmm", a, b, ("a", "b"))
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x @ W^T + b;  dL/dx = dL/dy @ W,  dL/dW = dL/dy^T @ x,  dL/db = sum of dL/dy over rows.

    Shape: x (..., in), W (out, in), b (out,) -> y (..., out). One GEMM forward, one per input
    gradient backward; leading dims are folded into the rows so the GEMM is as large as it can be.
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        self.x, self.w = x, w
        x2 = _rows(x) if x.ndim != 2 else x
        y = x2 @ w.T
        if b is not None:
            y += b
        return y.reshape(*x.shape[:-1], w.shape[0]) if x.ndim != 2 else y

    def backward(self, g: np.ndarray) -> tuple:
        nx, nw, nb = self.needs_input_grad
        x, w = self.x, self.w
        g2 = _rows(g) if g.ndim != 2 else g
        gx = gw = gb = None
        if nx:
            gx = (g2 @ w).reshape(x.shape)
        if nw:
            gw = g2.T @ (_rows(x) if x.ndim != 2 else x)
        if nb:  # the column sums of g as one GEMV: 2.5-3x faster than g2.sum(0) at (128..512, 256)
            gb = get_array_module(g2).ones(g2.shape[0], g2.dtype) @ g2
        return gx, gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Fused affine map ``x @ weight.T + bias`` (PyTorch's ``F.linear``).

    Shape: x (..., in_features), weight (out_features, in_features), bias (out_features,)
    -> (..., out_features). ``x`` needs the weight's dtype (DTypeError otherwise: a float64 or
    integer input to a float32 layer is converted by the caller, ``x.float()``, as in PyTorch).
    """
    xs, ws = tuple(x.shape), tuple(weight.shape)
    if len(ws) != 2 or len(xs) == 0 or xs[-1] != ws[1]:
        raise ShapeError(f"linear: expected input (..., {ws[1] if len(ws) == 2 else '?'}) for "
                         f"weight {ws}, got {xs}")
    if bias is not None and tuple(bias.shape) != (ws[0],):
        raise ShapeError(f"linear: bias has shape {tuple(bias.shape)}, expected ({ws[0]},)")
    check_dtypes("linear", x, weight)
    if bias is not None:
        check_dtypes("linear", bias, weight, ("bias", "weight"))
    return Linear.apply(x, weight, bias)


# ---- PyTorch's fixed-rank products: the MatMul op behind a shape check ----------------------


def _shape_of(x: Any) -> tuple:
    xp = get_array_module(x)
    return tuple(xp.shape(x.data if isinstance(x, Tensor) else x))


def _ranks(op: str, a: Any, b: Any, ra: int, rb: int, what: str) -> None:
    sa, sb = _shape_of(a), _shape_of(b)
    if len(sa) != ra or len(sb) != rb:
        raise ShapeError(f"{op}: expected {what}, got {sa} and {sb}")
    _matmul_shapes(op, sa, sb)
    check_dtypes(op, a, b, ("a", "b"))


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two matrices: (n, k) @ (k, m) -> (n, m) (no broadcasting)."""
    _ranks("mm", a, b, 2, 2, "two matrices (n, k) and (k, m)")
    return MatMul.apply(a, b)


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Matrix times vector: (n, k) @ (k,) -> (n,)."""
    _ranks("mv", a, v, 2, 1, "a matrix (n, k) and a vector (k,)")
    return MatMul.apply(a, v)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two vectors of one length: (k,) . (k,) -> ()."""
    _ranks("dot", a, b, 1, 1, "two vectors (k,) of one length")
    return MatMul.apply(a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """Outer product of two vectors: (n,) x (m,) -> (n, m), as a (n, 1) @ (1, m) product."""
    sa, sb = _shape_of(a), _shape_of(b)
    if len(sa) != 1 or len(sb) != 1:
        raise ShapeError(f"outer: expected two vectors, got {sa} and {sb}")
    check_dtypes("outer", a, b, ("a", "b"))
    from .shape import reshape

    return MatMul.apply(reshape(a, sa[0], 1), reshape(b, 1, sb[0]))


class Einsum(Function):
    """y = einsum(spec, x_1, ..., x_n);  dL/dx_i = einsum(g, x_j (j != i) -> subscripts of x_i),
    broadcast over the indices that only x_i carries (they were summed away in the forward).

    Shape: given by ``spec``, e.g. ``"bij,bjk->bik"``. Each operand's subscripts are distinct
    letters (no repeated index inside one operand: no diagonals).
    """

    def forward(self, *xs: Any, spec: str, subs: list[str], out: str) -> Any:
        xp = get_array_module(*xs)
        self.xs, self.inputs_subs, self.output_subs = xs, subs, out
        return xp.einsum(spec, *xs, optimize=len(xs) > 2)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        ins, out = self.inputs_subs, self.output_subs
        grads = []
        for i, (x, need) in enumerate(zip(self.xs, self.needs_input_grad)):
            if not need:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ins) if j != i]
            seen = set(out).union(*others)
            keep = "".join(c for c in ins[i] if c in seen)
            spec = ",".join([out, *others]) + "->" + keep
            gi = xp.einsum(spec, g, *[x2 for j, x2 in enumerate(self.xs) if j != i],
                           optimize=len(self.xs) > 1)
            if keep != ins[i]:  # put back the axes only x_i had, then broadcast along them
                gi = gi.reshape([x.shape[k] if c in seen else 1 for k, c in enumerate(ins[i])])
                gi = xp.broadcast_to(gi, x.shape)
            grads.append(xp.ascontiguousarray(gi))
        return tuple(grads)


def _expand_ellipsis(equation: str, eq: str, operands: tuple) -> tuple[str, tuple]:
    """``eq`` with each ``...`` replaced by letters it does not use (one per broadcast dimension,
    right-aligned as NumPy broadcasts), and the operands whose ``...`` dimensions are 1 where
    another operand's are larger expanded to the common shape (``expand``: its gradient sums
    back). The implicit output puts the ``...`` dimensions first, as PyTorch does."""
    from .shape import expand

    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(subs)} operands, got {len(operands)}")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    ell: list[tuple] = []  # each operand's '...' dimensions
    for k, (s, x) in enumerate(zip(subs, operands)):
        shape = _shape_of(x)
        if s.count("...") > 1 or s.replace("...", "").count(".") or out.count("...") > 1:
            raise ValueError(f"einsum: at most one '...' per operand, and '.' only in '...' "
                             f"({equation!r})")
        named = len(s) - 3 if "..." in s else len(s)
        if "..." in s and named > len(shape):
            raise ShapeError(f"einsum: operand {k} has {len(shape)} dimensions {shape} but "
                             f"{s!r} names {named} besides '...'")
        ell.append(shape[s.index("..."):len(shape) - (len(s) - s.index("...") - 3)]
                   if "..." in s else ())
    n = max(len(e) for e in ell)
    try:
        common = tuple(np.broadcast_shapes(*ell))
    except ValueError:
        raise ShapeError(f"einsum: the '...' dimensions {[tuple(e) for e in ell]} do not "
                         f"broadcast ({equation!r})") from None
    letters = "".join(free[:n])
    new_subs, new_ops = [], []
    for s, x, e in zip(subs, operands, ell):
        if "..." not in s:
            new_subs.append(s)
            new_ops.append(x)
            continue
        new_subs.append(s.replace("...", letters[n - len(e):]))
        if tuple(e) != common[n - len(e):]:  # a size-1 '...' dimension broadcast
            i = s.index("...")
            shape = _shape_of(x)
            x = expand(x, *shape[:i], *common[n - len(e):], *shape[i + len(e):])
        new_ops.append(x)
    if arrow:  # an output without '...' sums those dimensions away, as torch.einsum does
        out = out.replace("...", letters)
    else:
        counts = {c: lhs.count(c) for c in set(lhs) if c.isalpha()}
        out = letters + "".join(sorted(c for c, m in counts.items() if m == 1))
    return ",".join(new_subs) + "->" + out, tuple(new_ops)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, PyTorch's ``torch.einsum(equation, *operands)`` (operands as separate
    arguments or one list). Explicit output (``"ij,jk->ik"``) or implicit (``"ij,jk"``, the
    output's letters in alphabetical order); ``...`` stands for broadcast leading (or any)
    dimensions (``"...ij,...jk->...ik"``); no repeated letter in one operand.

    >>> einsum("ij,j->i", deepwise.ones(2, 3), deepwise.ones(3)).tolist()
    [3.0, 3.0]
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "..." in eq:
        eq, operands = _expand_ellipsis(equation, eq, operands)
    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(subs)} operands, got {len(operands)}")
    if not arrow:
        counts = {c: lhs.count(c) for c in set(lhs) if c.isalpha()}
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
    sizes: dict[str, int] = {}
    for k, (s, x) in enumerate(zip(subs, operands)):
        shape = _shape_of(x)
        if not s.isalpha() and s:
            raise ValueError(f"einsum: operand {k} subscripts {s!r} must be letters")
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: operand {k} repeats a letter in {s!r} (diagonals are not "
                             "supported)")
        if len(s) != len(shape):
            raise ShapeError(f"einsum: operand {k} has {len(shape)} dimensions {shape} but "
                             f"{s!r} names {len(s)}")
        for c, n in zip(s, shape):
            if sizes.setdefault(c, n) != n:
                raise ShapeError(f"einsum: index {c!r} has size {sizes[c]} in one operand and "
                                 f"{n} in operand {k} ({equation!r})")
    missing = [c for c in out if c not in sizes]
    if missing:
        raise ValueError(f"einsum: output index {missing[0]!r} appears in no operand "
                         f"({equation!r})")
    for k in range(1, len(operands)):
        check_dtypes("einsum", operands[0], operands[k], ("operand 0", f"operand {k}"))
    return Einsum.apply(*operands, spec=",".join(subs) + "->" + out, subs=subs, out=out)
