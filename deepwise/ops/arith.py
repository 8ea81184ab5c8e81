"""Element-wise arithmetic with NumPy broadcasting, and non-differentiable comparisons.

Each op is a Function whose docstring's first line is its derivative; ``unbroadcast`` sums a
gradient over the axes that broadcasting stretched (a bias added to every row gets the sum of
the rows' gradients).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, unbroadcast
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = [
    'add', 'sub', 'mul', 'div', 'pow', 'neg', 'abs', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt',
    'sin', 'cos', 'square', 'reciprocal', 'clamp', 'maximum', 'minimum', 'where', 'masked_fill',
    'cast', 'clone', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_not', 'logical_and',
    'logical_or', 'isnan', 'isinf', 'isfinite', 'sign', 'floor', 'ceil', 'round', 'any', 'all',
    'clip',
]

TENSOR_METHODS = ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "log1p", "sqrt",
                  "rsqrt", "sin", "cos", "clamp", "clip", "maximum", "minimum", "masked_fill",
                  "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or",
                  "isnan", "isinf", "isfinite", "sign", "square", "reciprocal", "floor", "ceil",
                  "round", "any", "all")


def _operand(x: Any) -> Any:
    """Tensors pass; NumPy scalars become Python scalars (weak, as in PyTorch); lists, arrays."""
    xp = get_array_module(x)
    if isinstance(x, np.generic):  # before float: np.float64 is a subclass of float
        return x.item()
    if isinstance(x, (Tensor, builtins.int, builtins.float, builtins.bool, np.ndarray)):
        return x
    return xp.asarray(x)


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands of a binary op with PyTorch's promotion: an integer tensor meeting a float
    tensor takes the float's dtype (NumPy would give float64)."""
    if isinstance(a, Tensor):  # the common cases first: they need no conversion
        if isinstance(b, Tensor):
            if a.data.dtype == b.data.dtype:
                return a, b
        elif type(b) is float or type(b) is int:
            return a, b
    a, b = _operand(a), _operand(b)
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da is not None and db is not None and da != db:
        if da.kind == "f" and db.kind in "iub":
            b = b.astype(da) if isinstance(b, np.ndarray) else cast(b, da)
        elif db.kind == "f" and da.kind in "iub":
            a = a.astype(db) if isinstance(a, np.ndarray) else cast(a, db)
    return a, b


def _shape(x: Any) -> tuple[int, ...]:
    return getattr(x, "shape", ())


class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1 (summed over broadcast axes)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.sa, self.sb = _shape(a), _shape(b)
        return a + b

    def backward(self, g: np.ndarray) -> tuple:
        na, nb = self.needs_input_grad
        return (unbroadcast(g, self.sa) if na else None, unbroadcast(g, self.sb) if nb else None)


def add(a: Any, b: Any, alpha: float = 1) -> Tensor:
    """a + alpha * b, with broadcasting."""
    a, b = _pair(a, b)
    return Add.apply(a, b if alpha == 1 else mul(b, alpha))


class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.sa, self.sb = _shape(a), _shape(b)
        return a - b

    def backward(self, g: np.ndarray) -> tuple:
        na, nb = self.needs_input_grad
        return (unbroadcast(g, self.sa) if na else None, unbroadcast(-g, self.sb) if nb else None)


def sub(a: Any, b: Any, alpha: float = 1) -> Tensor:
    """a - alpha * b, with broadcasting."""
    a, b = _pair(a, b)
    return Sub.apply(a, b if alpha == 1 else mul(b, alpha))


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: np.ndarray) -> tuple:
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        return (unbroadcast(g * b, _shape(a)) if na else None,
                unbroadcast(g * a, _shape(b)) if nb else None)


def mul(a: Any, b: Any) -> Tensor:
    """a * b element-wise, with broadcasting."""
    a, b = _pair(a, b)
    return Mul.apply(a, b)


class Div(Function):
    """y = a / b;  dy/da = 1 / b, dy/db = -a / b^2 = -y / b."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xp = get_array_module(a, b)
        out = xp.true_divide(a, b)
        self.sa, self.b, self.out = _shape(a), b, out
        return out

    def backward(self, g: np.ndarray) -> tuple:
        na, nb = self.needs_input_grad
        gb = g / self.b
        return (unbroadcast(gb, self.sa) if na else None,
                unbroadcast(-gb * self.out, _shape(self.b)) if nb else None)


def div(a: Any, b: Any) -> Tensor:
    """a / b element-wise (true division), with broadcasting."""
    a, b = _pair(a, b)
    return Div.apply(a, b)


class Pow(Function):
    """y = a ** b;  dy/da = b * a^(b-1), dy/db = y * ln(a)."""

    def forward(self, a: np.ndarray, b: Any) -> np.ndarray:
        xp = get_array_module(a, b)
        out = xp.power(a, b)
        self.a, self.b, self.out = a, b, out
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        if na:
            ga = unbroadcast(g * b * xp.power(a, b - 1), _shape(a))
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = unbroadcast(g * self.out * xp.log(a), _shape(b))
        return ga, gb


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - PyTorch's name
    """a ** b element-wise; the exponent may be a number or a tensor."""
    a, b = _pair(a, b)
    return Pow.apply(a, b)


class Neg(Function):
    """y = -x;  dy/dx = -1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, g: np.ndarray) -> np.ndarray:
        return -g


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


class Abs(Function):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.x = x
        return xp.abs(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        return g * xp.sign(self.x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(x)


class Exp(Function):
    """y = exp(x);  dy/dx = exp(x) = y."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.out = xp.exp(x)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.out


def exp(x: Tensor) -> Tensor:
    return Exp.apply(x)


class Log(Function):
    """y = ln(x);  dy/dx = 1 / x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / self.x


def log(x: Tensor) -> Tensor:
    return Log.apply(x)


class Log1p(Function):
    """y = ln(1 + x);  dy/dx = 1 / (1 + x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log1p(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return g / (1 + self.x)


def log1p(x: Tensor) -> Tensor:
    return Log1p.apply(x)


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        with np.errstate(invalid="ignore"):
            self.out = xp.sqrt(x)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return g / (2 * self.out)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(x)


class Rsqrt(Function):
    """y = 1 / sqrt(x);  dy/dx = -1/2 x^(-3/2) = -y^3 / 2."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.out = 1 / xp.sqrt(x)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (-0.5 * self.out ** 3)


def rsqrt(x: Tensor) -> Tensor:
    return Rsqrt.apply(x)


class Sin(Function):
    """y = sin(x);  dy/dx = cos(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.x = x
        return xp.sin(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        return g * xp.cos(self.x)


def sin(x: Tensor) -> Tensor:
    return Sin.apply(x)


class Cos(Function):
    """y = cos(x);  dy/dx = -sin(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.x = x
        return xp.cos(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        return g * -xp.sin(self.x)


def cos(x: Tensor) -> Tensor:
    return Cos.apply(x)


def square(x: Tensor) -> Tensor:
    """x ** 2."""
    return pow(x, 2)


def reciprocal(x: Tensor) -> Tensor:
    """1 / x."""
    return div(1.0, x)


class Clamp(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    def forward(self, x: np.ndarray, lo: Any = None, hi: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        self.x, self.lo, self.hi = x, lo, hi
        return xp.clip(x, lo, hi)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        x, lo, hi = self.x, self.lo, self.hi
        mask = xp.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return (g * mask, None, None)


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit every element to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo = min.data if isinstance(min, Tensor) else min
    hi = max.data if isinstance(max, Tensor) else max
    return Clamp.apply(x, lo, hi)


clip = clamp


class Maximum(Function):
    """y = max(a, b);  dy/da = 1 where a > b, 1/2 where a == b (PyTorch's split), else 0."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xp = get_array_module(a, b)
        self.a, self.b = a, b
        return xp.maximum(a, b)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        share = xp.where(a == b, 0.5, (a > b)).astype(g.dtype)
        return (unbroadcast(g * share, _shape(a)) if na else None,
                unbroadcast(g * (1 - share), _shape(b)) if nb else None)


def maximum(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return Maximum.apply(a, b)


class Minimum(Function):
    """y = min(a, b);  dy/da = 1 where a < b, 1/2 where a == b, else 0."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xp = get_array_module(a, b)
        self.a, self.b = a, b
        return xp.minimum(a, b)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        share = xp.where(a == b, 0.5, (a < b)).astype(g.dtype)
        return (unbroadcast(g * share, _shape(a)) if na else None,
                unbroadcast(g * (1 - share), _shape(b)) if nb else None)


def minimum(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return Minimum.apply(a, b)


class Where(Function):
    """y = cond ? a : b;  dy/da = cond, dy/db = not cond."""

    def forward(self, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xp = get_array_module(cond, a, b)
        self.cond, self.sa, self.sb = cond, _shape(a), _shape(b)
        return xp.where(cond, a, b)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        _, na, nb = self.needs_input_grad
        zero = xp.zeros((), g.dtype)
        return (None, unbroadcast(xp.where(self.cond, g, zero), self.sa) if na else None,
                unbroadcast(xp.where(self.cond, zero, g), self.sb) if nb else None)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's name
    """Elements of ``input`` where ``condition`` is true, else of ``other`` (broadcast)."""
    xp = get_array_module(condition, input, other)
    cond = condition.data if isinstance(condition, Tensor) else xp.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    a, b = _pair(input, other)
    return Where.apply(cond, a, b)


class MaskedFill(Function):
    """y = mask ? value : x;  dy/dx = not mask."""

    def forward(self, x: np.ndarray, mask: np.ndarray, value: Any = 0.0) -> np.ndarray:
        xp = get_array_module(x, mask)
        self.mask = mask
        return xp.where(mask, xp.asarray(value, x.dtype), x)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        return xp.where(self.mask, xp.zeros((), g.dtype), g), None


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``value`` where the boolean ``mask`` (broadcastable) is true."""
    xp = get_array_module(x, mask, value)
    m = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        from ..autograd import ShapeError
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast to the input's "
                         f"shape {tuple(x.shape)}") from None
    if isinstance(value, Tensor):
        value = value.item()
    return MaskedFill.apply(x, xp.broadcast_to(m, x.shape), value=value)


class Cast(Function):
    """y = x converted to another dtype;  dy/dx = 1 (the gradient is cast back)."""

    def forward(self, x: np.ndarray, dtype: np.dtype = None) -> np.ndarray:
        self.dtype = x.dtype
        return x.astype(dtype, copy=False)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.astype(self.dtype, copy=False)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x`` as ``dtype``; to an integer or bool dtype the result leaves the graph."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind != "f":
        return Tensor._make(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)


class Clone(Function):
    """y = copy of x;  dy/dx = 1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)


class ToDevice(Function):
    """y = x copied to another device (``"cpu"`` <-> ``"cuda"``);  dy/dx = 1 (the gradient is
    copied back to x's device)."""

    def forward(self, x: np.ndarray, device: Any = None) -> np.ndarray:
        self.source = backend.device_of(x)
        return backend.move(x, device)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return backend.move(g, self.source)


def to_device(x: Tensor, device: Any) -> Tensor:
    """``x`` on ``device`` (``backend.CPU`` / ``backend.CUDA``), recorded for backward."""
    return ToDevice.apply(x, device=device)


# ---- not differentiable: comparisons, logic, rounding -----------------------------------------


def _nodiff(f: Any, *args: Any) -> Tensor:
    return Tensor._make(f(*(a.data if isinstance(a, Tensor) else _operand(a) for a in args)))


def eq(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.equal, a, b)


def ne(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.not_equal, a, b)


def lt(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.less, a, b)


def le(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.less_equal, a, b)


def gt(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.greater, a, b)


def ge(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.greater_equal, a, b)


def logical_not(a: Any) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.logical_not, a)


def logical_and(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.logical_and, a, b)


def logical_or(a: Any, b: Any) -> Tensor:
    xp = get_array_module(a, b)
    return _nodiff(xp.logical_or, a, b)


def isnan(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.isnan, a)


def isinf(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.isinf, a)


def isfinite(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.isfinite, a)


def sign(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.sign, a)


def floor(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.floor, a)


def ceil(a: Tensor) -> Tensor:
    xp = get_array_module(a)
    return _nodiff(xp.ceil, a)


def round(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    xp = get_array_module(a)
    return _nodiff(xp.round, a)


def any(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = get_array_module(a)
    return Tensor._make(xp.any(a.data, axis=dim, keepdims=keepdim))


def all(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = get_array_module(a)
    return Tensor._make(xp.all(a.data, axis=dim, keepdims=keepdim))
