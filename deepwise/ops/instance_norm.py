"""Instance normalisation (Ulyanov et al., 2016): each sample's channel normalised on its own.

``y[n, c] = (x[n, c] - mean(x[n, c])) / sqrt(var(x[n, c]) + eps) * w[c] + b[c]``, statistics
over the spatial axes of one (sample, channel) pair. As in PyTorch, it is batch normalisation of
the (1, N*C, *) view: each of the N*C "channels" of that view is one instance, so the fused
forward and backward of :class:`deepwise.ops.norm.BatchNorm` do the work (no new derivative).
Running statistics, when given, are tracked per channel as the average over the batch of the
per-instance updates.

>>> import deepwise as dw
>>> instance_norm(dw.randn(2, 3, 4, 4)).shape
(2, 3, 4, 4)
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

import math

from ..autograd import ShapeError
from ..backend import get_array_module
from ..tensor import Tensor
from .norm import batch_norm

__all__ = ["instance_norm"]

TENSOR_METHODS = ()


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """PyTorch's ``F.instance_norm``: normalise each (n, c) slice of (N, C, *) over ``*``.

    ``use_input_stats=False`` normalises with ``running_mean``/``running_var`` instead; with
    ``use_input_stats=True`` and running statistics given, they are updated in place
    (``r = (1 - momentum) r + momentum * mean_n(instance stat)``, unbiased variance).
    """
    op = "instance_norm"
    xs = tuple(input.shape)
    if input.ndim < 3:
        raise ShapeError(f"{op}: expected input (N, C, *) with at least one spatial axis, got "
                         f"{xs}")
    n, c = xs[0], xs[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        if v is not None and tuple(v.shape) != (c,):
            raise ShapeError(f"{op}: expected {what} of shape ({c},) for input {xs}, got "
                             f"{tuple(v.shape)}")
    if use_input_stats and math.prod(xs[2:]) <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input "
                         f"{xs}")
    tracked = running_mean is not None and running_var is not None
    if not use_input_stats and not tracked:
        raise ValueError(f"{op}: running_mean and running_var are needed when "
                         "use_input_stats=False")
    rm = rv = None
    if tracked:
        xp = get_array_module(running_mean.data)
        rm = Tensor(xp.tile(running_mean.data, n))  # one copy per instance, as PyTorch does
        rv = Tensor(xp.tile(running_var.data, n))
    y = batch_norm(input.reshape(1, n * c, *xs[2:]), rm, rv, None, None, use_input_stats,
                   momentum, eps).reshape(*xs)
    if tracked and use_input_stats:  # the batch's average of the per-instance updates
        running_mean.data[...] = rm.data.reshape(n, c).mean(axis=0)
        running_var.data[...] = rv.data.reshape(n, c).mean(axis=0)
    affine_shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(affine_shape)
    if bias is not None:
        y = y + bias.reshape(affine_shape)
    return y
