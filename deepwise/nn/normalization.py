"""Normalisation layers: BatchNorm1d, BatchNorm2d (Ioffe & Szegedy, 2015), LayerNorm (Ba et al.,
2016), GroupNorm (Wu & He, 2018) - PyTorch's signatures, parameter and buffer names.

Each normalises ``xhat = (x - mean) / sqrt(var + eps)`` over some axes and applies a learned
per-feature affine map ``y = xhat * weight + bias``; the fused forward and backward are in
:mod:`deepwise.ops.norm`.

Batch norm normalises with the batch's statistics while training and keeps running averages
of them (buffers ``running_mean``, ``running_var``, ``num_batches_tracked``, saved in the
state dict under PyTorch's names) for evaluation: after ``model.eval()`` it is a fixed
per-channel affine map.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import ShapeError
from ..tensor import Tensor, check_dtypes
from . import functional as F
from . import init
from .conv import _channels, _dtype
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]
__all__ += ["InstanceNorm1d", "InstanceNorm2d"]


def _affine(module: Module, shape: tuple, affine: bool, bias: bool, dt: np.dtype) -> None:
    """Register ``weight`` and ``bias`` of ``shape`` (or None), as each normalisation layer does."""
    module.register_parameter("weight", Parameter(np.empty(shape, dt)) if affine else None)
    module.register_parameter("bias", Parameter(np.empty(shape, dt)) if affine and bias else None)


def _check_dtype(op: str, x: Tensor, module: Module) -> None:
    """PyTorch's rule: the input has the dtype of the layer's weight (or running statistics);
    no silent promotion of a float32 layer to float64. One comparison."""
    if module.weight is not None:
        check_dtypes(op, x, module.weight)
    elif getattr(module, "running_mean", None) is not None:
        check_dtypes(op, x, module.running_mean, ("input", "running_mean"))


def _reset_affine(module: Module) -> None:
    """weight = 1, bias = 0: the layer starts as the identity after normalising."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d; subclasses say which input ranks they take."""

    _ranks: tuple[int, ...] = ()
    _dims = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        dt = _dtype(dtype, device, type(self).__name__)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine(self, (self.num_features,), affine, bias, dt)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dt)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0 (start as the identity after normalising), running stats reset."""
        self.reset_running_stats()
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if len(shape) not in self._ranks:
            raise ShapeError(f"expected input {self._dims}, got {shape}")
        if shape[1] != self.num_features:
            raise ShapeError(f"expected input with {_channels(self.num_features)}, got "
                              f"{shape}")
        _check_dtype("batch_norm", x, self)
        if self.training and math.prod(shape) // shape[1] <= 1:  # before the stats change
            got = "an empty batch" if shape[0] == 0 else "input"
            raise ShapeError(f"expected more than 1 value per channel when training, got {got} "
                             f"{shape}: batch statistics need a batch of at least 2 (or 2 "
                             f"positions); call model.eval() to use the running statistics")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        # eval mode without running statistics normalises with the batch's, as PyTorch
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def short_repr(self) -> str:
        return f"{self._get_name()} {self.num_features}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features (N, C) or of channels of sequences (N, C, L).

    While training: per feature c, ``y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c``
    with the batch's mean and (biased) variance, and the running statistics updated in place,
    ``r = (1 - momentum) * r + momentum * batch_stat`` (the unbiased variance; momentum=None: a
    cumulative average over all batches seen). In eval: the same with the running statistics.

    Parameters: ``weight`` (C,) = 1, ``bias`` (C,) = 0 (unless ``affine=False``). Buffers:
    ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1, ``num_batches_tracked`` () = 0 (unless
    ``track_running_stats=False``).

    Shape:
        Input: (N, C) or (N, C, L).
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.BatchNorm1d(100)(dw.randn(20, 100)).shape
    (20, 100)
    """

    _ranks = (2, 3)
    _dims = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of the channels of an image batch: statistics per channel over
    (N, H, W). See :class:`BatchNorm1d` for the training/eval rules and the buffers.

    Shape:
        Input: (N, C, H, W).
        Output: (N, C, H, W).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> bn = nn.BatchNorm2d(32)
    >>> bn(dw.randn(8, 32, 14, 14)).shape
    (8, 32, 14, 14)
    >>> sorted(bn.state_dict())
    ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    """

    _ranks = (4,)
    _dims = "(N, C, H, W)"


class LayerNorm(Module):
    """Layer normalisation: each sample normalised over its last ``len(normalized_shape)``
    axes (no batch statistics: the same in training and eval), then ``* weight + bias``.

    Parameters: ``weight`` = 1 and ``bias`` = 0, both of shape ``normalized_shape`` (none when
    ``elementwise_affine=False``; no bias when ``bias=False``).

    Shape:
        Input: (*, *normalized_shape).
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.LayerNorm(10)(dw.randn(20, 5, 10)).shape
    (20, 5, 10)
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        dt = _dtype(dtype, device, "LayerNorm")
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else normalized_shape
        self.normalized_shape = tuple(int(n) for n in ns)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias, dt)
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        _check_dtype("layer_norm", x, self)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

    def short_repr(self) -> str:
        return f"LayerNorm {self.normalized_shape}"


class GroupNorm(Module):
    """Group normalisation: the channels split into ``num_groups`` groups; each sample's group
    is normalised over its channels and spatial positions (no batch statistics, so it works
    with batches of 1), then a per-channel ``* weight + bias``.

    Parameters: ``weight`` (C,) = 1, ``bias`` (C,) = 0 (unless ``affine=False``).

    Shape:
        Input: (N, C, *) with C == num_channels.
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.GroupNorm(3, 6)(dw.randn(20, 6, 10, 10)).shape
    (20, 6, 10, 10)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        dt = _dtype(dtype, device, "GroupNorm")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, affine
        _affine(self, (self.num_channels,), affine, bias, dt)
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ShapeError(f"expected input (N, {self.num_channels}, *), got {shape}")
        _check_dtype("group_norm", x, self)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
                f", bias={self.bias is not None}")

    def short_repr(self) -> str:
        return f"GroupNorm {self.num_groups}x{self.num_channels // self.num_groups}"


class _InstanceNorm(_BatchNorm):
    """Shared by InstanceNorm1d and InstanceNorm2d: PyTorch's defaults (no affine map, no running
    statistics) and its rules - the input's own statistics unless running statistics are
    tracked and the layer is in eval mode. Unbatched input (C, *) is taken as a batch of one."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if len(shape) not in self._ranks:
            raise ShapeError(f"expected input {self._dims}, got {shape}")
        unbatched = len(shape) == self._ranks[0]
        if unbatched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.num_features:
            raise ShapeError(f"expected input with {_channels(self.num_features)}, got "
                             f"{shape}")
        _check_dtype("instance_norm", x, self)
        use_input = self.training or not self.track_running_stats
        momentum = 0.1 if self.momentum is None else self.momentum
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_input, momentum, self.eps)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation (Ulyanov et al., 2016) of sequences: each (sample, channel) over
    its own L positions. Parameters/buffers as BatchNorm1d's, off by default.

    Shape:
        Input: (N, C, L) or (C, L).
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.InstanceNorm1d(3)(dw.randn(2, 3, 5)).shape
    (2, 3, 5)
    """

    _ranks = (2, 3)
    _dims = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation (Ulyanov et al., 2016; style transfer's normaliser): each image's
    channel normalised over its own H x W, ``y = (x - mean) / sqrt(var + eps)``, then
    ``* weight + bias`` if ``affine=True``. With ``track_running_stats=True`` the running
    averages (of the per-instance statistics, averaged over the batch) are used in eval mode.

    Shape:
        Input: (N, C, H, W) or (C, H, W).
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.InstanceNorm2d(3, affine=True)(dw.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _ranks = (3, 4)
    _dims = "(N, C, H, W) or (C, H, W)"
