"""SyncBatchNorm: batch normalisation whose statistics are taken over every rank's batch.

Plain BatchNorm under DistributedDataParallel normalises each rank's B samples with their own
mean and variance. SyncBatchNorm sums over the ranks first, so N ranks with batch B normalise
exactly as one process with batch N*B would: two small Allreduces in forward (the per-channel
sum and count, then the sum of squared deviations) and one in backward (the two per-channel
sums that the input gradient needs). The weight and bias gradients stay local; DDP averages
them like every other parameter's.
"""

from __future__ import annotations

from typing import Any

from ... import backend
from ...autograd import Function, ShapeError
from ...tensor import Tensor
from ..module import Module
from ..normalization import _BatchNorm, _check_dtype
from . import distributed as _ddp

__all__ = ["SyncBatchNorm", "SyncBatchNormFunction", "sync_batch_norm"]


def _per_channel(v: Any, ndim: int) -> Any:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class SyncBatchNormFunction(Function):
    """y = (x - mean_c) / sqrt(var_c + eps) * w_c + b_c with mean_c, var_c over all ranks' N
    samples; dL/dx = w_c * invstd_c * (g - S1_c / N - xhat * S2_c / N), where S1 = sum(g * w)
    and S2 = sum(g * w * xhat) are summed over all ranks' samples.

    (The loss whose gradient this is, is the sum of the ranks' losses: each rank's output
    depends on every rank's input through the shared statistics. DDP's division by the number
    of ranks then makes it the gradient of the ranks' mean loss - the one-process gradient.)
    """

    def forward(self, x: Any, w: Any, b: Any, running: tuple, momentum: float, eps: float,
                group: Any) -> Any:
        xp = backend.get_array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        sums = xp.concatenate([x.sum(axis=axes), xp.asarray([x.size // x.shape[1]], x.dtype)])
        group.allreduce(sums)
        n = float(sums[-1])
        mean = _per_channel(sums[:-1] / n, x.ndim)
        xc = x - mean
        sq = xp.ascontiguousarray(xp.square(xc).sum(axis=axes))
        group.allreduce(sq)
        var = sq / n
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * _per_channel(invstd, x.ndim)
        rm, rv = running
        if rm is not None:
            rm *= 1 - momentum
            rm += momentum * mean.reshape(-1).astype(rm.dtype)
        if rv is not None:
            rv *= 1 - momentum
            rv += (momentum * n / max(n - 1, 1)) * var.astype(rv.dtype)
        self.xhat, self.invstd, self.w, self.axes = xhat, _per_channel(invstd, x.ndim), w, axes
        self.n, self.group = n, group
        y = xhat * _per_channel(w, x.ndim) if w is not None else xhat.copy()
        if b is not None:
            y += _per_channel(b, x.ndim)
        return y

    def backward(self, g: Any) -> tuple:
        xp = backend.get_array_module(g)
        nx, nw, nb = self.needs_input_grad
        xhat, w, axes = self.xhat, self.w, self.axes
        dxhat = g * _per_channel(w, g.ndim) if w is not None else g
        dx = None
        if nx:
            sums = xp.concatenate([dxhat.sum(axis=axes), (dxhat * xhat).sum(axis=axes)])
            self.group.allreduce(sums)
            c = g.shape[1]
            m1 = _per_channel(sums[:c] / self.n, g.ndim)
            m2 = _per_channel(sums[c:] / self.n, g.ndim)
            dx = (dxhat - m1 - xhat * m2) * self.invstd
        dw = (g * xhat).sum(axis=axes) if nw else None
        db = g.sum(axis=axes) if nb else None
        return dx, dw, db


def sync_batch_norm(input: Tensor,  # noqa: A002 - PyTorch's argument name
                    running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, momentum: float, eps: float,
                    group: Any) -> Tensor:
    """Training-mode batch norm over dim 1 with statistics summed over ``group``'s ranks;
    updates running_mean / running_var in place (the unbiased variance of all ranks' batch)."""
    c = input.shape[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        if v is not None and tuple(v.shape) != (c,):
            raise ShapeError(f"sync_batch_norm: expected {what} of shape ({c},) for input "
                             f"{tuple(input.shape)}, got {tuple(v.shape)}")
    raw = (running_mean.data if running_mean is not None else None,
           running_var.data if running_var is not None else None)
    return SyncBatchNormFunction.apply(input, weight, bias, running=raw,
                                       momentum=float(momentum), eps=float(eps), group=group)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) whose training statistics come from all ranks' batches.

    In eval mode, and outside training, it is ``BatchNorm`` with the running statistics (which
    are the same on every rank, since every rank updates them with the same global statistics).
    ``process_group``: default ``deepwise.distributed``'s group (needed while training).
    ``SyncBatchNorm.convert_sync_batchnorm(model)`` swaps every BatchNorm1d/2d of a model for
    one, keeping weights and buffers.

    Shape:
        Input: (N, C, *) - (N, C), (N, C, L), (N, C, H, W) ...
        Output: the same shape.

    Example::

        dist.init_process_group()
        model = DDP(SyncBatchNorm.convert_sync_batchnorm(SmallCNN()))
    """

    _ranks = tuple(range(2, 9))
    _dims = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)
        self.process_group = process_group

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        group = self.process_group if self.process_group is not None else _ddp._default_group
        if group is None:
            raise RuntimeError("SyncBatchNorm: training needs a process group; call "
                               "deepwise.distributed.init_process_group() first (or use "
                               "BatchNorm2d in a single process)")
        shape = tuple(x.shape)
        if len(shape) < 2 or shape[1] != self.num_features:
            raise ShapeError(f"expected input (N, {self.num_features}, *), got {shape}")
        _check_dtype("batch_norm", x, self)
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.track_running_stats
        if track:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        return sync_batch_norm(x, self.running_mean if track else None,
                               self.running_var if track else None, self.weight, self.bias,
                               factor, self.eps, group)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm1d/BatchNorm2d replaced by a SyncBatchNorm holding
        the same parameters and buffers (the module itself when it is one)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group,
                      dtype=module.running_mean.dtype if module.running_mean is not None else None,
                      bias=getattr(module, "bias", None) is not None or not module.affine)
            new.load_state_dict(module.state_dict())
            for name in ("weight", "bias"):  # the very Parameters (an optimizer may hold them)
                if getattr(module, name, None) is not None:
                    setattr(new, name, getattr(module, name))
            new.train(module.training)
            return new
        for name, child in list(module._modules.items()):
            if child is not None:
                setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module
