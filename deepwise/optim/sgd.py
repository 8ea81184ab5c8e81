"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..backend import get_array_module
from ..kernels import optim as _fused
from .optimizer import Optimizer, ParamsT

__all__ = ["SGD"]


def _options(group: dict[str, Any]) -> tuple[float, float, float, float]:
    """lr, momentum, dampening, weight_decay as Python floats: NumPy then rounds each to the
    arrays' dtype (an np.float64 option would make a float32 update compute in float64)."""
    return (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
            float(group["weight_decay"]))


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's rule, option for option).

    For each parameter p with gradient g, at step t (mu = momentum, tau = dampening,
    lambda = weight_decay, gamma = lr)::

        g   <- -g                          if maximize
        g   <- g + lambda * p              (L2 weight decay, if lambda != 0)
        b_1 =  g                           (the momentum buffer starts at the first gradient)
        b_t =  mu * b_{t-1} + (1 - tau) * g
        g   <- g + mu * b_t                if nesterov, else  g <- b_t   (if mu != 0)
        p   <- p - gamma * g

    State per parameter: ``momentum_buffer`` (only when momentum != 0).

    With numba installed (``deepwise.kernels``) the update runs as one compiled pass per
    parameter (``kernels.optim.sgd_step``, bit for bit the NumPy lines of ``_update``).

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require(group, "momentum", group["momentum"] >= 0, ">= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, ">= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0 and dampening == 0 "
                             f"(got momentum={group['momentum']}, "
                             f"dampening={group['dampening']})")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        lr, momentum, dampening, wd = _options(group)
        if kernels.enabled(p, g) and self._fused(p, g, state, group):
            return
        d = self._grad_term(p, g, group, wd)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(d, copy=True)
            else:
                buf *= momentum
                self._axpy(buf, 1 - dampening, d)
            if group["nesterov"]:
                if d is g:  # never write into the caller's gradient
                    d = self._tmp(p, 1)
                    xp.copyto(d, g)
                self._axpy(d, momentum, buf)
            else:
                d = buf
        self._axpy(p, -lr, d)

    def _fused(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> bool:
        """The same step as the NumPy lines of :meth:`_update`, in one compiled pass
        (``kernels.optim.sgd_step``), bit for bit; False (nothing done) where p or its momentum
        buffer is not C-contiguous, g has another dtype or
        the dtype is not float32/float64 (numba has no float16)."""
        if g.dtype != p.dtype or p.dtype not in _fused.DTYPES:
            return False
        if not g.flags.c_contiguous:
            g = np.ascontiguousarray(g)  # e.g. a transposed view: one copy, then one pass
        lr, momentum, dampening, wd = _options(group)
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:
            buf = np.empty_like(p, order="C")
        elif buf is None:
            buf = p  # not read
        if not _fused.contiguous(p, buf):
            return False
        if first:
            state["momentum_buffer"] = buf
        sc = _fused.scalars(p.dtype, wd, momentum, 1 - dampening, -lr)
        _fused.sgd_step(p, g, buf, sc, bool(first), bool(momentum != 0),
                        bool(group["nesterov"]), bool(wd != 0), bool(group["maximize"]))
        return True
