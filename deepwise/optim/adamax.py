"""Adamax: Adam with the infinity norm in place of the squared-gradient average."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7.1), with PyTorch's options and defaults.

    For each parameter p with gradient g at step t (beta1, beta2, gamma = lr)::

        g   <- -g  if maximize;   g <- g + weight_decay * p
        m_t =  beta1 * m_{t-1} + (1 - beta1) * g
        u_t =  max(beta2 * u_{t-1}, |g| + eps)
        p   <- p - gamma / (1 - beta1^t) * m_t / u_t

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_inf`` (u).

    >>> opt = Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require_betas(group)
        for key in ("eps", "weight_decay"):
            self._require(group, key, group[key] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        return {"step": 0, "exp_avg": xp.zeros_like(p), "exp_inf": xp.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        state["step"] += 1
        b1, b2 = group["betas"]
        g = self._grad_term(p, g, group, group["weight_decay"])
        m, u = state["exp_avg"], state["exp_inf"]
        m *= b1
        self._axpy(m, 1 - b1, g)
        u *= b2
        xp.maximum(u, xp.abs(g) + group["eps"], out=u)
        p -= (group["lr"] / (1 - b1 ** state["step"])) * (m / u)
