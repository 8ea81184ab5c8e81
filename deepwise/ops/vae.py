"""Divergences for latent-variable models: ``kl_div`` (PyTorch's) and ``gaussian_kl``, the
closed-form KL term of a variational autoencoder.

A variational autoencoder's encoder outputs, for each image, a diagonal Gaussian
``q(z|x) = N(mu, diag(exp(logvar)))`` over the latent code; its loss (the negative ELBO) is the
reconstruction's negative log-likelihood plus ``KL(q(z|x) || N(0, I))``. For two Gaussians that
KL has a closed form, one term per latent dimension:

    KL = 1/2 (exp(logvar) + mu^2 - 1 - logvar)

(from ``E_q[log q - log p]`` with ``log N(z; m, s^2) = -1/2 (log 2 pi + log s^2 + (z - m)^2 /
s^2)`` and ``E_q[(z - mu)^2] = s^2``, ``E_q[z^2] = mu^2 + s^2``). Its derivatives are just as
short: ``dKL/dmu = mu`` and ``dKL/dlogvar = 1/2 (exp(logvar) - 1)``, both 0 at the prior
(mu = 0, logvar = 0), where the KL is 0 too.

>>> import deepwise as dw
>>> gaussian_kl(dw.tensor([[0.0, 1.0]]), dw.tensor([[0.0, 0.0]]))
tensor(0.5)
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

from typing import Any

from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor
from .loss import _check_input, _like_input

__all__ = ["kl_div", "gaussian_kl"]

TENSOR_METHODS: tuple[str, ...] = ()

_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _kl_reduce(loss: Any, reduction: str, xp: Any) -> Any:
    """'none': per element; 'sum'; 'mean': over all elements; 'batchmean': sum / batch size."""
    if reduction == "none":
        return loss
    total = xp.asarray(loss.sum(dtype=loss.dtype))
    if reduction == "sum":
        return total
    return xp.asarray(total / loss.dtype.type(_kl_denom(loss.shape, reduction)))


def _kl_denom(shape: tuple, reduction: str) -> int:
    xp = get_array_module(shape, reduction)
    if reduction == "batchmean":
        return shape[0] if len(shape) else 1
    return int(xp.prod(shape)) if reduction == "mean" else 1


class KLDiv(Function):
    """l = t (log t - x) (0 where t = 0), or for log_target e^t (t - x);
    dl/dx = -t (or -e^t), dl/dt = log t + 1 - x (or e^t (t - x + 1)).

    ``x`` holds log-probabilities, ``t`` probabilities (or log-probabilities with log_target).
    """

    def forward(self, x: Any, t: Any, reduction: str = "mean",
                log_target: bool = False) -> Any:
        xp = get_array_module(x, t)
        self.reduction, self.log_target, self.shape = reduction, log_target, x.shape
        if log_target:
            self.et = xp.exp(t)
            loss = self.et * (t - x)
        else:
            pos = t > 0
            log_t = xp.log(xp.where(pos, t, 1))  # log 1 = 0 where t = 0: 0 log 0 = 0
            self.log_t = log_t
            loss = xp.where(pos, t * (log_t - x), 0).astype(x.dtype, copy=False)
        self.x, self.t = x, t
        return _kl_reduce(loss, reduction, xp)

    def backward(self, g: Any) -> tuple:
        nx, nt = self.needs_input_grad
        if self.reduction in ("mean", "batchmean"):
            g = g / g.dtype.type(_kl_denom(self.shape, self.reduction))
        x, t = self.x, self.t
        w = self.et if self.log_target else t
        gx = -w * g if nx else None
        gt = None
        if nt:
            gt = (self.et * (t - x + 1) if self.log_target else self.log_t + 1 - x) * g
        return gx, gt


def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence ``sum t (log t - x)`` of ``target`` from the
    distribution whose log-probabilities are ``input`` (PyTorch's ``F.kl_div``).

    Shape: input and target the same shape; output () or, for 'none', that shape.
    ``reduction``: 'batchmean' (the sum divided by the batch size: the true KL per sample,
    what you almost always want), 'sum', 'mean' (divided by the number of elements, PyTorch's
    default) or 'none'. ``log_target=True``: the target is given as log-probabilities too.
    ``size_average``/``reduce`` are PyTorch's deprecated arguments and must stay None.
    """
    op = "kl_div"
    _check_input(op, input)
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated; pass reduction= "
                         f"(one of {', '.join(_KL_REDUCTIONS)})")
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _KL_REDUCTIONS))}, "
                         f"got {reduction!r}")
    t = _like_input(op, input, target)
    return KLDiv.apply(input, t, reduction=reduction, log_target=bool(log_target))


class GaussianKL(Function):
    """l = 1/2 (e^v + mu^2 - 1 - v)  (KL(N(mu, e^v) || N(0, 1)), v = logvar);
    dl/dmu = mu, dl/dv = 1/2 (e^v - 1)."""

    def forward(self, mu: Any, logvar: Any, reduction: str = "sum") -> Any:
        xp = get_array_module(mu, logvar)
        var = xp.exp(logvar)
        self.mu, self.var, self.reduction = mu, var, reduction
        loss = var + mu * mu
        loss -= 1
        loss -= logvar
        loss *= 0.5
        return _kl_reduce(loss, reduction, xp)

    def backward(self, g: Any) -> tuple:
        nm, nv = self.needs_input_grad
        if self.reduction in ("mean", "batchmean"):
            g = g / g.dtype.type(_kl_denom(self.mu.shape, self.reduction))
        gm = self.mu * g if nm else None
        gv = (self.var - 1) * (0.5 * g) if nv else None
        return gm, gv


def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "sum") -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, 1))`` in nats, elementwise in closed form
    ``1/2 (exp(logvar) + mu^2 - 1 - logvar)``, reduced: the KL term of a VAE's negative ELBO.

    Shape: mu and logvar the same shape, e.g. (N, latent); output () or, for 'none', that
    shape. ``reduction``: 'sum' (default: the KL of the whole diagonal Gaussians, summed over
    the batch), 'batchmean' (that sum / N: nats per sample), 'mean' (per element) or 'none'.
    PyTorch's equivalent is ``torch.distributions.kl_divergence(Normal(mu, (logvar / 2).exp()),
    Normal(0, 1))``.
    """
    op = "gaussian_kl"
    _check_input(op, mu)
    _check_input(op, logvar)
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ShapeError(f"{op}: mu has shape {tuple(mu.shape)} but logvar has shape "
                         f"{tuple(logvar.shape)}; the encoder must give one log-variance per "
                         "latent mean")
    if mu.dtype != logvar.dtype:
        raise TypeError(f"{op}: mu is {mu.dtype} but logvar is {logvar.dtype}; cast one "
                        "(x.float())")
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _KL_REDUCTIONS))}, "
                         f"got {reduction!r}")
    return GaussianKL.apply(mu, logvar, reduction=reduction)
