"""Pooling layers: MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d,
AdaptiveMaxPool2d (PyTorch's signatures). No parameters: each is one call into
:mod:`deepwise.ops.pool`, where the windows are strided views and the backward routes the
gradient to each window's max (or spreads it over the window for averages).

Output size along each spatial axis (PyTorch's formula)::

    out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1

(``ceil`` instead of ``floor`` with ``ceil_mode=True``; stride defaults to kernel_size.)
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
           "AdaptiveMaxPool2d"]


def _stride(stride: Any, kernel_size: Any) -> Any:
    return kernel_size if stride is None or stride == [] or stride == () else stride


def _one(v: Any) -> tuple:
    """AvgPool1d keeps its sizes as 1-tuples, as PyTorch does (and shows in its repr)."""
    return (v,) if isinstance(v, int) else tuple(v)


class _MaxPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, _stride(stride, kernel_size)
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling: the largest value in each window of ``kernel_size`` steps.

    Shape:
        Input: (N, C, L) or (C, L).
        Output: (N, C, L_out), L_out = floor((L + 2*padding - dilation*(kernel_size - 1) - 1)
        / stride) + 1. ``return_indices=True`` also returns each max's int64 position in L.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.MaxPool1d(3, stride=2)(dw.zeros(20, 16, 50)).shape
    (20, 16, 24)
    """

    def forward(self, x: Tensor) -> Any:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling: the largest value in each kernel_size window of each channel; the
    gradient flows only to that (first) max.

    Args: kernel_size, stride (default: kernel_size), padding (-inf, at most half the kernel),
    dilation (int or (h, w)); return_indices: also return the int64 flat index h * W + w of
    each max; ceil_mode: keep a last partial window.

    Shape:
        Input: (N, C, H, W) or (C, H, W).
        Output: (N, C, H_out, W_out) with
        H_out = floor((H + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0]) + 1
        and W_out likewise.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.MaxPool2d(2)(dw.zeros(8, 32, 28, 28)).shape
    (8, 32, 14, 14)
    """

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class _AvgPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, _stride(stride, kernel_size)
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling: the mean of each window of ``kernel_size`` steps.

    Shape:
        Input: (N, C, L) or (C, L).
        Output: (N, C, L_out), L_out = floor((L + 2*padding - kernel_size) / stride) + 1.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.AvgPool1d(3, stride=2)(dw.zeros(20, 16, 50)).shape
    (20, 16, 24)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__(_one(kernel_size), _one(_stride(stride, kernel_size)), _one(padding),
                         ceil_mode, count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling: the mean of each kernel_size window of each channel.

    Args: kernel_size, stride (default: kernel_size), padding (zeros, at most half the kernel),
    ceil_mode; count_include_pad: count the zero padding in the divisor (default True);
    divisor_override: divide every window's sum by this number instead.

    Shape:
        Input: (N, C, H, W) or (C, H, W).
        Output: (N, C, H_out, W_out) with
        H_out = floor((H + 2*padding[0] - kernel_size[0]) / stride[0]) + 1 and W_out likewise.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.AvgPool2d(3, stride=2)(dw.zeros(20, 16, 50, 32)).shape
    (20, 16, 24, 15)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size: output cell i averages
    the input rows [floor(i*H/H_out), ceil((i+1)*H/H_out)) (and likewise for columns).
    ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Shape:
        Input: (N, C, H, W) or (C, H, W).
        Output: (N, C, *output_size); None in output_size keeps that input size.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.AdaptiveAvgPool2d((5, 7))(dw.zeros(1, 64, 8, 9)).shape
    (1, 64, 5, 7)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (bins as in :class:`AdaptiveAvgPool2d`).

    Shape:
        Input: (N, C, H, W) or (C, H, W).
        Output: (N, C, *output_size); with ``return_indices`` also the int64 flat index
        h * W + w of each max.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.AdaptiveMaxPool2d(7)(dw.zeros(1, 64, 10, 9)).shape
    (1, 64, 7, 7)
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
