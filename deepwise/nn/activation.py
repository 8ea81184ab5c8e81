"""Activation layers: each holds its hyper-parameters and calls one op of ``nn.functional``.

All of them work element-wise on any shape (Softmax/LogSoftmax normalise along ``dim``).
``inplace=True`` is accepted for PyTorch compatibility, but deepwise never overwrites a tensor
of the recorded graph, so the result is always a new tensor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .conv import _dtype
from .module import Module
from .parameter import Parameter

__all__ = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus", "Softmax",
           "LogSoftmax"]
__all__ += ["PReLU", "ReLU6", "Hardtanh", "LogSigmoid"]


class ReLU(Module):
    """``max(0, x)``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.ReLU()(dw.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.LeakyReLU(0.1)(dw.tensor([-1.0, 2.0])).tolist()
    [-0.10000000149011612, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """Clevert et al. (2015): ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.ELU()(dw.zeros(3)).shape
    (3,)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Hendrycks & Gimpel (2016): ``x * Phi(x)`` (Phi: the standard normal CDF);
    ``approximate='tanh'`` uses ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.GELU()(dw.zeros(2, 3)).shape
    (2, 3)
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """Sigmoid-weighted linear unit (swish): ``x * sigmoid(x)``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.SiLU()(dw.zeros(2)).tolist()
    [0.0, 0.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Sigmoid()(dw.zeros(1)).tolist()
    [0.5]
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """``tanh(x)``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Tanh()(dw.zeros(1)).tolist()
    [0.0]
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear (``x``) where ``beta * x > threshold``.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Softplus()(dw.zeros(2)).shape
    (2,)
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta)}, threshold={float(self.threshold)}"


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``: each slice becomes a probability vector.

    Shape: any -> the same. Without ``dim`` PyTorch's old implicit choice is made (with a
    warning): 0 for 0-, 1- and 3-D inputs, else 1.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Softmax(dim=1)(dw.zeros(1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _softmax_dim("Softmax", x.ndim) if self.dim is None else self.dim
        return F.softmax(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x_i - log(sum_j exp(x_j))`` along ``dim`` (log-probabilities, computed stably).

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.LogSoftmax(dim=1)(dw.zeros(2, 3)).shape
    (2, 3)
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _softmax_dim("LogSoftmax", x.ndim) if self.dim is None else self.dim
        return F.log_softmax(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardtanh(Module):
    """``x`` clipped to ``[min_val, max_val]``; the gradient is 1 inside, 0 outside.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Hardtanh()(dw.tensor([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val "
                             f"({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class ReLU6(Hardtanh):
    """``min(max(0, x), 6)`` (Howard et al. 2017, MobileNets): Hardtanh(0, 6).

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.ReLU6()(dw.tensor([-1.0, 7.0])).tolist()
    [0.0, 6.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class PReLU(Module):
    """He et al. (2015): ``x`` for x >= 0, ``weight * x`` otherwise, with a learned slope: one
    shared (``num_parameters=1``) or one per channel (input dim 1).

    Parameter: ``weight`` (num_parameters,) = ``init`` (0.25).

    Shape: (N, C, *) or any shape with ``num_parameters=1`` -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.PReLU()(dw.tensor([-4.0, 2.0])).tolist()
    [-1.0, 2.0]
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters, self.init = int(num_parameters), float(init)
        dt = _dtype(dtype, device, "PReLU")
        self.weight = Parameter(np.empty(self.num_parameters, dt))
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """Every slope = ``init`` (0.25 in the paper)."""
        self.weight.data[...] = self.init

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class LogSigmoid(Module):
    """``log(1 / (1 + exp(-x)))``, computed stably.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.LogSigmoid()(dw.zeros(2)).shape
    (2,)
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)
