"""Integer division and remainders: ``a // b`` (floor_divide), ``a % b`` (remainder), fmod.

``floor_divide`` is a step function: its derivative is zero almost everywhere, so (as in
PyTorch) it records no gradient. ``remainder`` and ``fmod`` are one differentiable op each:
``r = a - q * b`` with the quotient ``q`` held fixed.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function, ShapeError, unbroadcast
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["floor_divide", "remainder", "fmod"]

TENSOR_METHODS = ("floor_divide", "remainder", "fmod")


def _raw(v: Any) -> Any:
    return v.data if isinstance(v, Tensor) else v


def _check(op: str, a: Any, b: Any) -> None:
    xp = get_array_module(_raw(a), _raw(b))
    try:
        xp.broadcast_shapes(xp.shape(_raw(a)), xp.shape(_raw(b)))
    except ValueError:
        raise ShapeError(f"{op}: shapes {xp.shape(_raw(a))} and {xp.shape(_raw(b))} do not "
                         "broadcast") from None


def floor_divide(a: Any, b: Any) -> Tensor:
    """``floor(a / b)`` elementwise (Python's ``//``; integers stay integers). No gradient."""
    _check("floor_divide", a, b)
    xp = get_array_module(_raw(a), _raw(b))
    return Tensor._make(xp.asarray(xp.floor_divide(_raw(a), _raw(b))))


class Remainder(Function):
    """r = a - q * b with q = floor(a / b) (``remainder``) or trunc(a / b) (``fmod``), q fixed;
    dL/da = g,  dL/db = -q * g (each summed over broadcast axes)."""

    def forward(self, a: Any, b: Any, trunc: bool = False) -> Any:
        xp = get_array_module(a, b)
        self.sa, self.sb = xp.shape(a), xp.shape(b)
        r = xp.fmod(a, b) if trunc else xp.remainder(a, b)
        if r.dtype.kind == "f":  # only float results can carry a gradient
            self.q = xp.trunc(xp.divide(a, b)) if trunc else xp.floor_divide(a, b)
        return xp.asarray(r)

    def backward(self, g: Any) -> tuple:
        na, nb = self.needs_input_grad
        ga = unbroadcast(g, self.sa) if na else None
        gb = unbroadcast(-self.q * g, self.sb) if nb else None
        return ga, gb


def _rem(op: str, a: Any, b: Any, trunc: bool) -> Tensor:
    _check(op, a, b)
    return Remainder.apply(a, b, trunc=trunc)


def remainder(a: Any, b: Any) -> Tensor:
    """``a - floor(a / b) * b``: Python's ``%`` (the sign of ``b``)."""
    return _rem("remainder", a, b, trunc=False)


def fmod(a: Any, b: Any) -> Tensor:
    """``a - trunc(a / b) * b``: C's remainder (the sign of ``a``)."""
    return _rem("fmod", a, b, trunc=True)
