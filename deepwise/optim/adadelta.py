"""Adadelta: a step whose size adapts to the recent gradients AND the recent steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), with PyTorch's options and defaults.

    For each parameter p with gradient g (rho, eps, gamma = lr, lambda = weight_decay)::

        g     <- -g                                   if maximize
        g     <- g + lambda * p                       if lambda != 0
        v_t   =  rho * v_{t-1} + (1 - rho) * g^2      (running mean of squared gradients)
        dx    =  sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g
        u_t   =  rho * u_{t-1} + (1 - rho) * dx^2     (running mean of squared steps)
        p     <- p - gamma * dx

    The ratio of the two RMS values gives each coordinate a step in the units of p.
    State per parameter: ``step``, ``square_avg`` (v), ``acc_delta`` (u).

    >>> opt = Adadelta(model.parameters(), lr=1.0)
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require(group, "rho", 0.0 <= group["rho"] <= 1.0, "in [0, 1]")
        for key in ("eps", "weight_decay"):
            self._require(group, key, group[key] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        return {"step": 0, "square_avg": xp.zeros_like(p), "acc_delta": xp.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        g = self._grad_term(p, g, group, group["weight_decay"])
        v, u = state["square_avg"], state["acc_delta"]
        tmp = self._tmp(p, 0)
        v *= rho
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        v += tmp
        std = self._tmp(p, 2)
        xp.add(v, eps, out=std)
        xp.sqrt(std, out=std)
        delta = self._tmp(p, 3)
        xp.add(u, eps, out=delta)
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        u *= rho
        xp.multiply(delta, delta, out=tmp)
        tmp *= 1 - rho
        u += tmp
        delta *= -group["lr"]
        p += delta
