"""Upsample: resize the spatial axes of a batch (nearest, linear, bilinear), PyTorch's layer
around :func:`deepwise.ops.interpolate.interpolate`."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize to ``size`` or by ``scale_factor`` (give one): 'nearest' copies the closest source
    pixel, 'linear' / 'bilinear' interpolate between the two (four) nearest; ``align_corners``
    (interpolating modes) maps the corner pixels' centres onto each other.

    Shape:
        Input: (N, C, L) (nearest, linear) or (N, C, H, W) (nearest, bilinear).
        Output: (N, C, L_out) or (N, C, H_out, W_out), with H_out = size[0] or
        floor(H * scale_factor[0]) (and W_out likewise).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.Upsample(scale_factor=2, mode="bilinear")(dw.zeros(1, 3, 4, 4)).shape
    (1, 3, 8, 8)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size, self.mode = size, mode
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"
