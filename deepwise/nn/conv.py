"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d (PyTorch's signatures and weight layouts).

Each layer holds ``weight`` and ``bias`` and makes one call into :mod:`deepwise.ops.conv`
(im2col + one GEMM, channels-last inside; read that file for the forward and backward).

Output size of a convolution along each spatial axis (PyTorch's formula)::

    out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1

and of a transposed convolution::

    out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import ShapeError
from ..tensor import Tensor, check_device
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v: Any, n: int, what: str, layer: str) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n or not all(isinstance(a, (int, np.integer)) for a in t):
        raise ValueError(f"{layer}: {what} must be an int or {n} ints, got {v!r}")
    return tuple(int(a) for a in t)


def _channels(n: int) -> str:
    return f"{n} channel" + ("s" if n != 1 else "")


def _dtype(dtype: Any, device: Any, layer: str) -> np.dtype:
    if device is not None:
        check_device(device, layer)
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


class _ConvNd(Module):
    """What Conv1d, Conv2d and ConvTranspose2d share: hyper-parameters, weight, bias, init,
    repr and the input check."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 output_padding: Any, device: Any, dtype: Any) -> None:
        super().__init__()
        name, nd = type(self).__name__, self._nd
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = _ntuple(stride, nd, "stride", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and max(self.stride) > 1:
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {self.stride})")
            self.padding: Any = padding
        else:
            self.padding = _ntuple(padding, nd, "padding", name)
        self.dilation = _ntuple(dilation, nd, "dilation", name)
        self.output_padding = _ntuple(output_padding, nd, "output_padding", name)
        self.groups, self.padding_mode, self.transposed = int(groups), padding_mode, \
            self._transposed
        dt = _dtype(dtype, device, name)
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """He et al. (2015) uniform with ``a = sqrt(5)`` on the weight (bound 1/sqrt(fan_in)),
        and ``b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with fan_in = weight.shape[1] * kernel
        area: PyTorch's default."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, x: Tensor) -> None:
        shape, nd = tuple(x.shape), self._nd
        spatial = "L" if nd == 1 else "H, W"
        if len(shape) not in (nd + 1, nd + 2):
            raise ShapeError(f"expected input (N, {self.in_channels}, {spatial}) or "
                             f"({self.in_channels}, {spatial}), got {shape}")
        if shape[-nd - 1] != self.in_channels:
            hint = ""
            if self.in_channels == 1 and len(shape) == nd + 1:
                batch = "(N, L)" if nd == 1 else "(N, H, W)"
                hint = (f"; a batch {batch} of 1-channel inputs needs the channel axis: "
                        f"x.unsqueeze(1) gives {shape[:1] + (1,) + shape[1:]}")
            raise ShapeError(f"expected input with {_channels(self.in_channels)}, got "
                             f"{shape}{hint}")

    def _padding_pairs(self) -> tuple[int, ...]:
        """F.pad amounts (last axis first) for a non-zero padding_mode."""
        if self.padding == "valid":
            return (0, 0) * self._nd
        if self.padding == "same":
            tot = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pairs = [(t // 2, t - t // 2) for t in tot]
        else:
            pairs = [(p, p) for p in self.padding]
        return tuple(a for pair in reversed(pairs) for a in pair)

    def _conv(self, x: Tensor, fn: Any) -> Tensor:
        self._check_input(x)
        if self.padding_mode != "zeros":
            x = F.pad(x, self._padding_pairs(), mode=self.padding_mode)
            return fn(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                  self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def short_repr(self) -> str:
        return f"{self._get_name()} {self.in_channels}->{self.out_channels}"


class Conv1d(_ConvNd):
    """1-D convolution over a batch of sequences: ``y[n, o] = b[o] + sum_c w[o, c] (*) x[n, c]``.

    Parameters: ``weight`` (out_channels, in_channels / groups, kernel_size), ``bias``
    (out_channels,) unless ``bias=False``; PyTorch's default init.

    Args: as ``torch.nn.Conv1d``: stride, padding (int, 'valid' or 'same'), dilation, groups
    (groups == in_channels: a depthwise convolution), bias, padding_mode ('zeros', 'reflect',
    'replicate', 'circular').

    Shape:
        Input: (N, C_in, L) or (C_in, L).
        Output: (N, C_out, L_out), L_out = floor((L + 2*padding - dilation*(kernel_size - 1)
        - 1) / stride) + 1.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Conv1d(16, 33, 3, stride=2)(dw.zeros(20, 16, 50)).shape
    (20, 33, 24)
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv(x, F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution over a batch of images (cross-correlation, as in PyTorch):
    ``y[n, o] = b[o] + sum_c w[o, c] (*) x[n, c]``.

    Parameters: ``weight`` (out_channels, in_channels / groups, kH, kW), ``bias``
    (out_channels,) unless ``bias=False``; PyTorch's default init (``reset_parameters``).

    Args: as ``torch.nn.Conv2d``: kernel_size, stride, padding and dilation are an int or
    (h, w); padding may be 'valid' (none) or 'same' (output size = input size, stride 1);
    groups splits the channels into independent groups (groups == in_channels: depthwise);
    padding_mode 'zeros' (default), 'reflect', 'replicate' or 'circular'.

    Shape:
        Input: (N, C_in, H, W) or (C_in, H, W).
        Output: (N, C_out, H_out, W_out) with
        H_out = floor((H + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0]) + 1
        and W_out likewise.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> conv = nn.Conv2d(1, 32, kernel_size=3, padding=1)
    >>> conv(dw.zeros(8, 1, 28, 28)).shape
    (8, 32, 28, 28)
    >>> conv
    Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv(x, F.conv2d)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of Conv2d with respect to its input; used to
    upsample in decoders and GANs): each input pixel spreads ``weight`` onto a stride-spaced
    output window.

    Parameters: ``weight`` (in_channels, out_channels / groups, kH, kW) - note in before out,
    as in PyTorch - and ``bias`` (out_channels,) unless ``bias=False``.

    ``forward(x, output_size=None)``: when stride > 1 several output sizes map back to the same
    input size; ``output_size`` (H, W) (or (N, C, H, W)) picks one, overriding output_padding.

    Shape:
        Input: (N, C_in, H, W) or (C_in, H, W).
        Output: (N, C_out, H_out, W_out) with
        H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kernel_size[0] - 1)
        + output_padding[0] + 1, and W_out likewise.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> up = nn.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1, output_padding=1)
    >>> up(dw.zeros(4, 16, 7, 7)).shape
    (4, 8, 14, 14)
    """

    _nd = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode 'zeros' is supported, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or (h, w), got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)
        size = size[-2:] if len(size) in (3, 4) and len(size) == x.ndim else size
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must be (H, W) or the full output "
                             f"shape, got {output_size!r}")
        lo = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in zip(
            x.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size)]
        hi = [m + s - 1 for m, s in zip(lo, self.stride)]
        if any(not a <= n <= b for n, a, b in zip(size, lo, hi)):
            raise ValueError(f"ConvTranspose2d: requested an output size of {size}, but valid "
                             f"sizes range from {tuple(lo)} to {tuple(hi)} (for an input of "
                             f"{tuple(x.shape[-2:])})")
        return tuple(n - a for n, a in zip(size, lo))

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        self._check_input(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)
