"""Linear algebra: matmul (all of NumPy's batching rules), bmm, and the fused linear layer op."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function, ShapeError, unbroadcast
from ..tensor import Tensor, check_dtypes

__all__ = [
    'matmul', 'bmm', 'linear',
]

TENSOR_METHODS = ("matmul", "bmm")


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
        self.a, self.b = a, b
        if a.ndim > 2 and b.ndim <= 2:
            # a batch of matrices against one matrix (or vector): fold the batch into the rows of
            # one GEMM; np.matmul would call one small GEMM per matrix (1.1-4x slower measured)
            return (_rows(a) @ b).reshape(*a.shape[:-1], *b.shape[1:])
        return np.matmul(a, b)

    def backward(self, g: np.ndarray) -> tuple:
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
                ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape)
            ga = ga[0] if a.ndim == 1 else ga
        if nb:
            if b2.ndim == 2 and a2.ndim > 2:
                # a batch of matrices against one shared matrix: fold the batch into one GEMM
                gb = _rows(a2).T @ _rows(g2)
            else:
                gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape)
            gb = gb[:, 0] if b.ndim == 1 else gb
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast.
    Both operands need one dtype (PyTorch's rule: no silent promotion; DTypeError otherwise).

    Shape: (..., n, k) @ (..., k, m) -> (..., n, m).
    """
    _matmul_shapes("matmul", np.shape(a.data if isinstance(a, Tensor) else a),
                   np.shape(b.data if isinstance(b, Tensor) else b))
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
        if nb:
            gb = g2.sum(0)
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
