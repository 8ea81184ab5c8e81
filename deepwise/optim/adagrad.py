"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients so far."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), with PyTorch's options.

    For each parameter p with gradient g, at step t = 1, 2, ... (gamma = lr, eta = lr_decay,
    lambda = weight_decay)::

        g     <- -g                              if maximize
        g     <- g + lambda * p                  if lambda != 0
        gamma_t = gamma / (1 + (t - 1) * eta)
        s_t   =  s_{t-1} + g^2                   (s_0 = initial_accumulator_value)
        p     <- p - gamma_t * g / (sqrt(s_t) + eps)

    Coordinates with large past gradients get small steps; rare features keep large ones.
    State per parameter: ``step``, ``sum`` (s).

    >>> opt = Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._require(group, key, group[key] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        return {"step": 0, "sum": xp.full_like(p, group["initial_accumulator_value"])}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p, g)
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        g = self._grad_term(p, g, group, group["weight_decay"])
        s = state["sum"]
        tmp = self._tmp(p, 0)
        xp.multiply(g, g, out=tmp)
        s += tmp
        std = self._tmp(p, 2)
        xp.sqrt(s, out=std)
        std += group["eps"]
        xp.multiply(g, -clr, out=tmp)
        tmp /= std
        p += tmp
