"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), with PyTorch's options: centered, momentum, weight decay.

    For each parameter p with gradient g (gamma = lr, alpha = smoothing constant,
    mu = momentum, lambda = weight_decay)::

        g   <- -g                                      if maximize
        g   <- g + lambda * p                          if lambda != 0
        v_t =  alpha * v_{t-1} + (1 - alpha) * g^2     (v_0 = 0)
        a_t =  alpha * a_{t-1} + (1 - alpha) * g       if centered (a_0 = 0)
        s   =  sqrt(v_t - a_t^2) + eps                 if centered, else sqrt(v_t) + eps
        b_t =  mu * b_{t-1} + g / s;  p <- p - gamma * b_t     if mu > 0 (b_0 = 0)
        p   <- p - gamma * g / s                               otherwise

    ``centered`` divides by an estimate of the gradient's variance instead of its raw second
    moment. State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b) when
    mu > 0, ``grad_avg`` (a) when centered.

    >>> opt = RMSprop(model.parameters(), lr=1e-2, alpha=0.99)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require(group, "eps", group["eps"] >= 0, ">= 0")
        self._require(group, "momentum", group["momentum"] >= 0, ">= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, ">= 0")
        self._require(group, "alpha", group["alpha"] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        state: dict[str, Any] = {"step": 0, "square_avg": xp.zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p)
        return state

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        state["step"] += 1
        g = self._grad_term(p, g, group, group["weight_decay"])
        v = state["square_avg"]
        tmp = self._tmp(p, 0)
        v *= alpha
        xp.multiply(g, 1 - alpha, out=tmp)
        tmp *= g
        v += tmp
        s = self._tmp(p, 2)
        if group["centered"]:
            a = state.get("grad_avg")
            if a is None:
                a = state["grad_avg"] = xp.zeros_like(p)
            xp.subtract(g, a, out=tmp)  # a <- a + (1 - alpha)(g - a)
            tmp *= 1 - alpha
            a += tmp
            xp.multiply(a, a, out=s)
            xp.subtract(v, s, out=s)
            xp.sqrt(s, out=s)
        else:
            xp.sqrt(v, out=s)
        s += eps
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(p)
            buf *= momentum
            xp.divide(g, s, out=tmp)
            buf += tmp
            self._axpy(p, -lr, buf)
        else:
            xp.multiply(g, -lr, out=tmp)
            tmp /= s
            p += tmp
