"""NAdam: Adam with Nesterov momentum (the step looks one momentum step ahead)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), with PyTorch's options, defaults and momentum schedule.

    For each parameter p with gradient g at step t (beta1, beta2, gamma = lr, psi =
    momentum_decay)::

        g    <- g + lambda * p   (or p <- p (1 - gamma lambda) with decoupled_weight_decay)
        mu_t =  beta1 (1 - 0.5 * 0.96^(t psi)),   mu_{t+1} likewise,   P_t = mu_1 ... mu_t
        m_t  =  beta1 m_{t-1} + (1 - beta1) g,    v_t = beta2 v_{t-1} + (1 - beta2) g^2
        d    =  sqrt(v_t / (1 - beta2^t)) + eps
        p    <- p - gamma (1 - mu_t) / (1 - P_t) * g / d
                  - gamma mu_{t+1} / (1 - P_t mu_{t+1}) * m_t / d

    State per parameter: ``step``, ``mu_product`` (P), ``exp_avg`` (m), ``exp_avg_sq`` (v).

    >>> opt = NAdam(model.parameters(), lr=2e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require_betas(group)
        for key in ("eps", "weight_decay", "momentum_decay"):
            self._require(group, key, group[key] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        return {"step": 0, "mu_product": 1.0, "exp_avg": xp.zeros_like(p),
                "exp_avg_sq": xp.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        state["step"] += 1
        t, lr, (b1, b2), psi = state["step"], group["lr"], group["betas"], group["momentum_decay"]
        wd = group["weight_decay"]
        if group["decoupled_weight_decay"] and wd:
            p *= 1 - lr * wd
            wd = 0
        g = self._grad_term(p, g, group, wd)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        prod = state["mu_product"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        self._axpy(m, 1 - b1, g)
        v *= b2
        self._axpy(v, 1 - b2, g * g)
        denom = xp.sqrt(v / (1 - b2 ** t)) + group["eps"]
        p -= (lr * (1 - mu) / (1 - prod)) * (g / denom)
        p -= (lr * mu_next / (1 - prod * mu_next)) * (m / denom)
