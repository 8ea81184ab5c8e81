"""Gradient clipping (by total norm or by value) and an L1 penalty on the weights.

Clipping runs between ``loss.backward()`` and ``optimizer.step()``; it rescales ``.grad`` in
place, so one exploding batch (common in RNNs) cannot throw the weights far away::

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=1.0)
    opt.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...backend import get_array_module
from ...ops import arith, reduce
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(x: np.ndarray, p: float) -> np.ndarray:
    """||x||_p of all entries of ``x`` (p = inf: max |x|, -inf: min |x|, 0: count of non-zeros)."""
    xp = get_array_module(x)
    if x.size == 0:
        return xp.zeros((), x.dtype) if p != -math.inf else xp.array(np.inf, x.dtype)
    if p == 2:
        return xp.sqrt(xp.vdot(x, x)) if x.flags.c_contiguous else xp.linalg.norm(x.ravel())
    a = xp.abs(x)
    if p == math.inf:
        return a.max()
    if p == -math.inf:
        return a.min()
    if p == 0:
        return xp.asarray(xp.count_nonzero(x), x.dtype)
    if p == 1:
        return a.sum()
    return (a ** p).sum() ** (1.0 / p)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    r"""Rescale the gradients so that their total norm is at most ``max_norm``, in place.

    The total norm treats all gradients as one vector: N = ||(||g_1||_p, ..., ||g_k||_p)||_p.
    Every gradient is then multiplied by min(max_norm / (N + 1e-6), 1) (PyTorch's rule), so
    their direction is kept. ``norm_type`` may be ``math.inf`` (max |g|). Parameters whose grad
    is None are left out.

    Returns the total norm before clipping, a 0-d Tensor (log it: a rising norm warns of
    divergence). ``error_if_nonfinite=True`` raises instead of scaling by a NaN/Inf norm.
    """
    grads = [p.grad.data for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor._make(np.zeros((), np.float32))
    p = float(norm_type)
    xp = get_array_module(grads[0])
    norms = xp.stack([_vector_norm(g, p) for g in grads])
    total = xp.asarray(_vector_norm(norms, p), dtype=grads[0].dtype)
    if error_if_nonfinite and not xp.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {float(total)}, so they cannot be clipped; set "
                           "error_if_nonfinite=False to scale by it anyway")
    coef = xp.minimum(xp.asarray(max_norm, total.dtype) / (total + total.dtype.type(1e-6)),
                      total.dtype.type(1.0))
    for g in grads:
        xp.multiply(g, coef, out=g)
    return Tensor._make(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    c = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            get_array_module(p.grad.data).clip(p.grad.data, -c, c, out=p.grad.data)


def l1_penalty(parameters_or_module: Any, weight: float = 1.0,
               only_weights: bool = True) -> Tensor:
    r"""The L1 penalty ``weight * sum_i sum |w_i|`` as a differentiable scalar Tensor: add it to
    the loss, and backward gives each weight ``weight * sign(w)`` more gradient (which drives
    small weights to exactly 0: a sparse model).

    ``parameters_or_module``: a Module (its ``.parameters()`` are used), one tensor, or an
    iterable of tensors. ``only_weights=True`` (default) keeps only tensors with ndim > 1 - the
    weight matrices and kernels - and leaves biases and normalisation scales unpenalised, as is
    usual; pass False to penalise every tensor given.

    Shape: returns a 0-d tensor.

    >>> loss = F.cross_entropy(model(x), y) + l1_penalty(model, weight=1e-4)
    """
    obj = parameters_or_module
    if not isinstance(obj, Tensor) and callable(getattr(obj, "parameters", None)):
        obj = obj.parameters()
    params = [p for p in _as_list(obj) if not only_weights or p.ndim > 1]
    if not params:
        return Tensor._make(np.zeros((), np.float32))
    total = reduce.sum(arith.abs(params[0]))
    for p in params[1:]:
        total = total + reduce.sum(arith.abs(p))
    return total * weight if weight != 1 else total
