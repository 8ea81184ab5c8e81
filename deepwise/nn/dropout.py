"""Dropout (Srivastava et al., 2014): zero activations at random while training; Dropout2d
(Tompson et al., 2015) zeros whole channels."""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """While training, zero each element with probability ``p`` and scale the survivors by
    ``1 / (1 - p)`` (so the expected value is unchanged); in eval mode, the identity.

    The mask is drawn from deepwise's generator (``deepwise.manual_seed`` repeats it).
    ``inplace=True`` is accepted for PyTorch compatibility; the result is always a new tensor.

    Shape: any -> the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> drop = nn.Dropout(0.5).eval()
    >>> drop(dw.ones(4)).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, p=self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Module):
    """While training, zero each whole channel (an (H, W) plane of one sample) with probability
    ``p`` and scale the kept ones by ``1 / (1 - p)``; in eval mode, the identity. Neighbouring
    pixels of a feature map are strongly correlated, so element-wise dropout hardly regularises
    a convolutional layer; dropping whole feature maps does.

    Shape:
        Input: (N, C, H, W) (or (N, C, L)).
        Output: the same shape.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Dropout2d(0.2)(dw.ones(20, 16, 32, 32)).shape
    (20, 16, 32, 32)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: probability p has to be between 0 and 1, got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, p=self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
