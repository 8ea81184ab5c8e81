"""The penalty-reduced focal loss of CenterNet (Zhou et al., "Objects as Points", 2019; after
CornerNet, Law & Deng 2018), on heatmap logits, as one fused op.

A detector that predicts a heatmap of object centres has a few positive pixels (the centres,
target 1) and very many negatives. Each negative pixel's target is a Gaussian bump
``y in [0, 1)`` around a centre, and its loss is *reduced* by ``(1 - y)^beta``: a near miss costs
little. The focal factors ``(1 - p)^alpha`` / ``p^alpha`` down-weight pixels already right.
With ``p = sigmoid(x)`` and ``N`` the number of positives (at least 1)::

    L = -1/N sum_{y=1} (1 - p)^a log p  -  1/N sum_{y<1} (1 - y)^b p^a log(1 - p)

Derivative through the sigmoid (``dp/dx = p (1 - p)``), per pixel, before the ``1/N``::

    y = 1:  dl/dx = a p (1 - p)^a log p - (1 - p)^(a + 1)
    y < 1:  dl/dx = (1 - y)^b (p^(a + 1) - a p^a (1 - p) log(1 - p))

``log p = -softplus(-x)`` and ``log(1 - p) = -softplus(x)`` keep it finite for any logit.

>>> import deepwise as dw
>>> loss = focal_heatmap_loss(dw.tensor([[0.0, 0.0]]), dw.tensor([[1.0, 0.0]]))
>>> round(float(loss), 4)  # 2 * 0.25 * log 2
0.3466
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .loss import _check_input, _like_input

__all__ = ["focal_heatmap_loss"]

TENSOR_METHODS: tuple[str, ...] = ()


def _log_sigmoid(xp: Any, x: Any) -> Any:
    """log sigmoid(x) = -softplus(-x), computed without overflow."""
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


class FocalHeatmapLoss(Function):
    """L = -1/N [sum_pos (1-p)^a log p + sum_neg (1-y)^b p^a log(1-p)], p = sigmoid(x);
    dL/dx = 1/N [pos: a p (1-p)^a log p - (1-p)^(a+1); neg: (1-y)^b (p^(a+1) - a p^a (1-p)
    log(1-p))]. The target gets no gradient."""

    def forward(self, x: Any, y: Any, alpha: float = 2.0, beta: float = 4.0) -> Any:
        xp = get_array_module(x, y)
        pos = y >= 1
        log_p, log_q = _log_sigmoid(xp, x), _log_sigmoid(xp, -x)
        p = xp.exp(log_p)
        q = 1 - p
        n = max(int(pos.sum()), 1)
        w_neg = xp.where(pos, 0, (1 - y) ** beta)
        loss_pos = xp.where(pos, q ** alpha * log_p, 0)
        loss_neg = w_neg * p ** alpha * log_q
        self.saved = (pos, p, q, log_p, log_q, w_neg, alpha, n)
        return xp.asarray(-(loss_pos.sum() + loss_neg.sum()) / n, dtype=x.dtype)

    def backward(self, g: Any) -> tuple:
        pos, p, q, log_p, log_q, w_neg, a, n = self.saved
        xp = get_array_module(p)
        d_pos = a * p * q ** a * log_p - q ** (a + 1)
        d_neg = w_neg * (p ** (a + 1) - a * p ** a * q * log_q)
        dx = xp.where(pos, d_pos, d_neg) * (g / n)
        return dx.astype(p.dtype, copy=False), None


def focal_heatmap_loss(input: Tensor, target: Any, alpha: float = 2.0,
                       beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss of heatmap logits ``input`` against a target
    heatmap (1 at object centres, a Gaussian bump below 1 around them), summed and divided by
    the number of centres (at least 1).

    Shape: input (N, C, H, W) (or any), target the same -> a scalar.
    """
    op = "focal_heatmap_loss"
    _check_input(op, input)
    target = _like_input(op, input, target)
    if isinstance(target, Tensor):
        target = target.data
    return FocalHeatmapLoss.apply(input, target, alpha=float(alpha), beta=float(beta))
