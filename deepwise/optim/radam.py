"""RAdam: Adam whose adaptive step is switched on only once its variance estimate is reliable."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""Rectified Adam (Liu et al., 2020), with PyTorch's options and defaults.

    For each parameter p with gradient g at step t (beta1, beta2, gamma = lr)::

        m_t   = beta1 m_{t-1} + (1 - beta1) g,     v_t = beta2 v_{t-1} + (1 - beta2) g^2
        rho_inf = 2 / (1 - beta2) - 1,   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m_hat = m_t / (1 - beta1^t)
        if rho_t > 5:  r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
                       p <- p - gamma r_t m_hat sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
        else:          p <- p - gamma m_hat         (SGD with momentum while v is unreliable)

    Weight decay as in Adam (``decoupled_weight_decay``: as in AdamW). State per parameter:
    ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v).

    >>> opt = RAdam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, decoupled_weight_decay: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require_betas(group)
        for key in ("eps", "weight_decay"):
            self._require(group, key, group[key] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        return {"step": 0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        state["step"] += 1
        t, lr, (b1, b2) = state["step"], group["lr"], group["betas"]
        wd = group["weight_decay"]
        if group["decoupled_weight_decay"] and wd:
            p *= 1 - lr * wd
            wd = 0
        g = self._grad_term(p, g, group, wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        self._axpy(m, 1 - b1, g)
        v *= b2
        self._axpy(v, 1 - b2, g * g)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / bc2
        if rho_t > 5:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                             ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p -= (lr * rect * math.sqrt(bc2) / bc1) * (m / (xp.sqrt(v) + group["eps"]))
        else:
            p -= (lr / bc1) * m
