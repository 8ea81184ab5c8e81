"""Adam and AdamW: per-parameter step sizes from running averages of the gradient and its square."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..backend import get_array_module
from ..kernels import optim as _fused
from .optimizer import Optimizer, ParamsT

__all__ = ["Adam", "AdamW"]


def _options(group: dict[str, Any]) -> tuple[float, float, float, float, float]:
    """lr, weight_decay, eps, beta1, beta2 as Python floats: NumPy then rounds each to the arrays'
    dtype (an np.float64 option would make a float32 update compute in float64)."""
    beta1, beta2 = group["betas"]
    return (float(group["lr"]), float(group["weight_decay"]), float(group["eps"]), float(beta1),
            float(beta2))


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), with PyTorch's options: L2 or decoupled weight decay,
    AMSGrad, maximize.

    For each parameter p with gradient g, at step t = 1, 2, ... (gamma = lr,
    beta1, beta2 = betas, lambda = weight_decay)::

        g   <- -g                                   if maximize
        p   <- p * (1 - gamma * lambda)             if decoupled_weight_decay (AdamW)
        g   <- g + lambda * p                       otherwise (L2), if lambda != 0
        m_t =  beta1 * m_{t-1} + (1 - beta1) * g    (first moment; m_0 = 0)
        v_t =  beta2 * v_{t-1} + (1 - beta2) * g^2  (second moment; v_0 = 0)
        v_t <- max(v_max, v_t) (kept as v_max)      if amsgrad
        p   <- p - gamma / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    The two ``1 - beta^t`` factors correct the moments' bias toward their zero start.
    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), and
    ``max_exp_avg_sq`` with amsgrad.

    With numba installed (``deepwise.kernels``) the whole update of a parameter runs as one
    compiled pass over p, g, m and v (``kernels.optim.adam_step``, bit for bit the NumPy lines
    of ``_update``, ~5x faster); CuPy arrays and non-contiguous parameters take the NumPy lines.

    >>> opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        self._require(group, "eps", group["eps"] >= 0, ">= 0")
        self._require_betas(group)
        self._require(group, "weight_decay", group["weight_decay"] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        xp = get_array_module(p)
        state: dict[str, Any] = {"step": 0, "exp_avg": xp.zeros_like(p),
                                 "exp_avg_sq": xp.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p)
        return state

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = get_array_module(p)
        lr, wd, eps, beta1, beta2 = _options(group)
        state["step"] += 1
        t = state["step"]
        decoupled = group["decoupled_weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        vmax = None
        if group["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            if vmax is None:
                vmax = state["max_exp_avg_sq"] = xp.zeros_like(p)
        if kernels.enabled(p, g) and self._fused(p, g, m, v, vmax, group, t):
            return
        if wd != 0 and decoupled:
            p *= 1 - lr * wd
        g = self._grad_term(p, g, group, 0 if decoupled else wd)
        tmp = self._tmp(p, 0)
        # m <- m + (1 - beta1) (g - m), i.e. beta1 m + (1 - beta1) g
        xp.subtract(g, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp
        # v <- beta2 v + (1 - beta2) g^2
        v *= beta2
        xp.multiply(g, 1 - beta2, out=tmp)
        tmp *= g
        v += tmp
        if vmax is not None:
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = lr / (1 - beta1 ** t)
        denom = self._tmp(p, 2)
        xp.sqrt(v, out=denom)
        denom /= (1 - beta2 ** t) ** 0.5
        denom += eps
        xp.multiply(m, -step_size, out=tmp)
        tmp /= denom
        p += tmp

    def _fused(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
               vmax: np.ndarray | None, group: dict[str, Any], t: int) -> bool:
        """The same step as the NumPy lines of :meth:`_update`, in one compiled pass
        (``kernels.optim.adam_step``), bit for bit; False (nothing done) where p or its state is
        not C-contiguous, g has another dtype or
        the dtype is not float32/float64 (numba has no float16)."""
        if g.dtype != p.dtype or p.dtype not in _fused.DTYPES:
            return False
        if not g.flags.c_contiguous:
            g = np.ascontiguousarray(g)  # e.g. a transposed view: one copy, then one pass
        if vmax is None:
            vmax = v  # not read
        if not _fused.contiguous(p, m, v, vmax):
            return False
        lr, wd, eps, beta1, beta2 = _options(group)
        decoupled = bool(group["decoupled_weight_decay"]) and wd != 0
        sc = _fused.scalars(p.dtype, 1 - lr * wd, wd, 1 - beta1, beta2, 1 - beta2,
                            (1 - beta2 ** t) ** 0.5, eps, -(lr / (1 - beta1 ** t)))
        _fused.adam_step(p, g, m, v, vmax, sc, decoupled, bool(wd != 0 and not decoupled),
                         vmax is not v, bool(group["maximize"]))
        return True


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019): the decay shrinks the
    weights directly instead of entering the gradient, so the adaptive step does not rescale it::

        p <- p * (1 - gamma * lambda)      then the Adam step (see :class:`Adam`) without L2

    The default ``weight_decay`` is 1e-2, as in PyTorch.

    >>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # AdamW's decay is always decoupled
            group["decoupled_weight_decay"] = True
