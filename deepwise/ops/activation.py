"""Activations, softmax and dropout: element-wise non-linearities with closed-form derivatives.

Each op is a Function whose docstring's first line is its derivative. Where the derivative is
a function of the output (sigmoid, tanh, softmax), backward uses the saved output, so forward
keeps one array and backward does no transcendental work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, kernels
from ..autograd import Function, ShapeError
from ..backend import default_generator, get_array_module
from ..kernels import activation as kact
from ..kernels import attention as kattn
from ..tensor import Tensor, check_dtypes
from .arith import cast

__all__ = [
    'relu', 'leaky_relu', 'elu', 'gelu', 'silu', 'sigmoid', 'tanh', 'softplus', 'softmax',
    'log_softmax', 'dropout',
    'logsigmoid', 'hardtanh', 'relu6', 'prelu',
]

TENSOR_METHODS = ("relu", "sigmoid", "tanh", "softmax", "log_softmax")


def _dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative axis, or IndexError naming the allowed range."""
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimension(s) "
                         f"(expected a value in [{-n}, {n - 1}])")
    return int(dim) % n


# ---- log1p and expm1 at exp/log speed ----------------------------------------------------------
# NumPy's log1p and expm1 are scalar library calls, about 10x slower than its vectorised log and
# exp. These two classic corrections recover their accuracy (a few ulps) from log and exp.


def _log1p(y: np.ndarray) -> np.ndarray:
    """log(1 + y) for y >= -1: log(u) * y / (u - 1) with u = 1 + y (Goldberg's trick; the ratio
    y / (u - 1) undoes the rounding of 1 + y). Where u rounds to 1, the answer is y itself."""
    xp = get_array_module(y)
    u = 1 + y
    d = u - 1
    m = d == 0
    d += m
    xp.log(u, out=u)
    u += m
    xp.divide(y, d, out=d)
    u *= d  # (log u + m) * y / (u - 1 + m): log(u) y / (u - 1), or y where u == 1
    return u


def _expm1(x: np.ndarray) -> np.ndarray:
    """e^x - 1 for -40 <= x <= 0 (e^-40 - 1 is -1 in float64): (u - 1) * x / log(u), u = e^x
    (Kahan's trick; x / log(u) undoes the rounding of e^x). Where u rounds to 1, it is x."""
    xp = get_array_module(x)
    u = xp.exp(x)
    lg = xp.log(u)
    m = lg == 0
    u -= 1
    u += m
    lg += m
    xp.divide(x, lg, out=lg)
    u *= lg  # (u - 1 + m) * x / (log u + m)
    return u


# ---- rectifiers -----------------------------------------------------------------------------


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0 (0 at x = 0, as in PyTorch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.out = xp.maximum(x, 0)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        if kernels.enabled(g, self.out):  # fast path: g where y > 0, else 0, in one pass
            dx = kact.leaky_relu_backward(g, self.out, 0.0)
            if dx is not None:
                return dx
        return g * (self.out > 0)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), element-wise. Shape: any -> same.

    ``inplace`` is accepted so PyTorch code ports unchanged; deepwise records no in-place
    changes, so the result is always a new tensor (``x = F.relu(x, inplace=True)`` works).

    >>> relu(deepwise.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return ReLU.apply(x)


class LeakyReLU(Function):
    """y = x if x > 0 else a x;  dy/dx = 1 where x > 0, else a (the negative slope)."""

    def forward(self, x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
        xp = get_array_module(x)
        self.x, self.slope = x, negative_slope
        if kernels.enabled(x):  # fast path: x where x > 0, else a x, in one pass
            y = kact.leaky_relu_forward(x, negative_slope)
            if y is not None:
                return y
        y = x * negative_slope  # max(x, a x) is the answer for a <= 1, min(x, a x) for a > 1
        return xp.maximum(x, y, out=y) if negative_slope <= 1 else xp.minimum(x, y, out=y)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        a = self.slope
        if kernels.enabled(g, self.x):  # fast path: g where x > 0, else a g, in one pass
            dx = kact.leaky_relu_backward(g, self.x, a)
            if dx is not None:
                return dx
        d = xp.multiply(self.x > 0, 1 - a, dtype=g.dtype)  # no np.where: a random mask is slow
        d += a
        d *= g
        return d


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, ``negative_slope * x`` elsewhere. Shape: any -> same.

    ``inplace``: accepted for PyTorch compatibility; the result is always a new tensor.
    """
    return LeakyReLU.apply(x, negative_slope=float(negative_slope))


class ELU(Function):
    """y = x if x > 0 else a (e^x - 1);  dy/dx = 1 where x > 0, else a e^x."""

    def forward(self, x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        xp = get_array_module(x)
        self.x, self.alpha = x, alpha
        neg = _expm1(xp.clip(x, -40, 0))
        neg *= alpha  # a (e^min(x, 0) - 1): the negative part, 0 where x > 0
        self.neg = neg
        return xp.maximum(x, 0) + neg

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        a = self.alpha
        d = xp.multiply(self.x > 0, 1 - a, dtype=g.dtype)  # 1 - a where x > 0
        d += self.neg
        d += a  # a e^x where x <= 0, (1 - a) + 0 + a = 1 where x > 0
        d *= g
        return d


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit (Clevert et al. 2015): x for x > 0, alpha (e^x - 1) otherwise.

    Shape: any -> same. ``inplace``: accepted for PyTorch compatibility; always a new tensor.
    """
    return ELU.apply(x, alpha=float(alpha))


# ---- GELU and the Gaussian CDF ----------------------------------------------------------------

# erfc(a) = exp(-a^2) * P(a) / Q(a) on 0 <= a <= 6 (for a > 6, erfc(a) < 2.2e-17 is below what a
# float64 next to 1 can hold). P/Q is a degree 8/9 rational fit of erfcx(a) = exp(a^2) erfc(a),
# computed for deepwise with 50-digit arithmetic (mpmath) by iterated linear least squares on 400
# Chebyshev nodes, weighted for relative error: max relative error of the fit 1e-17; evaluated in
# float64, |erf - math.erf| <= 4e-16 everywhere (tests/test_activation.py checks it). The
# coefficients are all positive, so Horner's rule is stable.
_ERFCX_P = (1.0, 1.87185525577198, 1.7475377069097384, 1.0244344386653297, 0.40692895649974264,
            0.1115033316606484, 0.020567445830905046, 0.002343172138757197,
            0.00012732681446533085)
_ERFCX_Q = (1.0, 3.0002344228674955, 4.132939726076111, 3.4399758796298476, 1.9125210277270959,
            0.7393756268143145, 0.1997112253786698, 0.036567681718014174, 0.00415316473516781,
            0.00022568089838019645)
_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _horner(coef: tuple[float, ...], a: np.ndarray) -> np.ndarray:
    """c0 + c1 a + c2 a^2 + ... by Horner's rule, in place on one new array."""
    r = a * coef[-1]
    r += coef[-2]
    for c in coef[-3::-1]:
        r *= a
        r += c
    return r


def _erfc_abs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(erfc(a), exp(-a^2)) for a >= 0, in the dtype of ``a`` (which is overwritten)."""
    xp = get_array_module(a)
    a = xp.minimum(a, 6.0, out=a)
    e = a * a
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    r = _horner(_ERFCX_P, a)
    r /= _horner(_ERFCX_Q, a)
    r *= e
    return r, e


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt, element-wise (NumPy has none).

    Absolute error below 4e-16 in float64 (relative accuracy near x = 0 is what 1 - erfc gives).
    """
    xp = get_array_module(x)
    c, _ = _erfc_abs(xp.abs(x))
    return xp.copysign(1.0 - c, x)


def _normal_cdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Phi(x), exp(-x^2/2)): the standard normal CDF and the unnormalised density.

    Phi(x) = erfc(-x/sqrt2)/2 = h for x < 0 and 1 - h for x >= 0, h = erfc(|x|/sqrt2)/2, so the
    lower tail keeps full relative accuracy.
    """
    xp = get_array_module(x)
    a = xp.abs(x)
    a *= _SQRT1_2
    h, e = _erfc_abs(a)
    h *= 0.5
    cdf = xp.multiply(x >= 0, 1, dtype=h.dtype)  # h + [x >= 0] (1 - 2h), without np.where:
    cdf *= 1 - 2 * h                               # a random mask makes np.where slow
    cdf += h
    return cdf, e


_BLOCK = 65536


def _normal_cdf_blocked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_normal_cdf`` over blocks of 65536 elements, so that its ~25 NumPy passes run in the
    cache (1M float32: 12 ms instead of 34 ms, 2 threads, machine under load); the same values.
    Large C-contiguous NumPy arrays only (CuPy and small or strided arrays: in one go)."""
    if type(x) is not np.ndarray or not x.flags.c_contiguous or x.size <= 2 * _BLOCK:
        return _normal_cdf(x)
    xf = x.reshape(-1)
    cdf, pdf = np.empty_like(xf), np.empty_like(xf)
    for i in range(0, xf.size, _BLOCK):
        cdf[i:i + _BLOCK], pdf[i:i + _BLOCK] = _normal_cdf(xf[i:i + _BLOCK])
    return cdf.reshape(x.shape), pdf.reshape(x.shape)


_TANH_K = math.sqrt(2.0 / math.pi)


class GELU(Function):
    """y = x Phi(x);  dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2)/sqrt(2 pi).

    With approximate='tanh': y = x/2 (1 + t), t = tanh(k (x + 0.044715 x^3)), k = sqrt(2/pi);
    dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 * 0.044715 x^2).

    With numba the same arithmetic runs in two compiled passes around NumPy's exp / tanh and the
    backward in one (1M float32: erf form fwd 2.9 ms, bwd 1.0 ms; NumPy path 13 / 2 ms).
    """

    def forward(self, x: np.ndarray, approximate: str = "none") -> np.ndarray:
        xp = get_array_module(x)
        self.x, self.approximate = x, approximate
        if kernels.enabled(x):  # fast path: the arithmetic below in two passes around exp/tanh
            fused = (kact.gelu_tanh_forward(x, _TANH_K, 0.044715) if approximate == "tanh" else
                     kact.gelu_erf_forward(x, _ERFCX_P, _ERFCX_Q, _SQRT1_2))
            if fused is not None:
                if approximate == "tanh":
                    y, self.t = fused
                else:
                    y, self.cdf, self.pdf = fused
                return y
        if approximate == "tanh":
            t = x * x
            t *= 0.044715 * _TANH_K
            t += _TANH_K
            t *= x
            self.t = xp.tanh(t, out=t)
            out = t + 1
            out *= x
            out *= 0.5
            return out
        self.cdf, self.pdf = _normal_cdf_blocked(x)
        return x * self.cdf

    def backward(self, g: np.ndarray) -> np.ndarray:
        x = self.x
        if kernels.enabled(g, x):  # fast path: the same dx in one pass
            d = (kact.gelu_tanh_backward(x, self.t, g, _TANH_K, 0.044715)
                 if self.approximate == "tanh" else
                 kact.gelu_erf_backward(x, self.pdf, self.cdf, g, _INV_SQRT_2PI))
            if d is not None:
                return d
        if self.approximate == "tanh":
            t = self.t
            d = x * x
            d *= 3 * 0.044715 * _TANH_K
            d += _TANH_K
            d *= 1 - t * t
            d *= x
            d += 1 + t
            d *= 0.5
        else:
            d = x * self.pdf
            d *= _INV_SQRT_2PI
            d += self.cdf
        d *= g
        return d


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016): x * Phi(x), Phi the normal CDF.

    ``approximate='tanh'`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2's form).
    Shape: any -> same.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)


# ---- sigmoid family ---------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), one new array. Stable for any |x|: e^-x overflows to inf for x < -88
    (float32) and 1/inf = 0 is the right answer, so the overflow warning is silenced."""
    xp = get_array_module(x)
    t = xp.negative(x, out=xp.empty_like(x))  # an array even for 0-d x (np.negative gives a scalar)
    with np.errstate(over="ignore"):
        xp.exp(t, out=t)
    t += 1
    return xp.reciprocal(t, out=t)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = _sigmoid(x)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        y = self.out
        d = 1 - y
        d *= y
        d *= g
        return d


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function 1 / (1 + exp(-x)), stable for large |x|. Shape: any -> same."""
    return Sigmoid.apply(x)


class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = get_array_module(x)
        self.out = xp.tanh(x)
        return self.out

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        y = self.out
        d = y * y
        xp.subtract(1, d, out=d)
        d *= g
        return d


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent. Shape: any -> same."""
    return Tanh.apply(x)


class SiLU(Function):
    """y = x s, s = sigmoid(x);  dy/dx = s (1 + x (1 - s))."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.s = _sigmoid(x)
        return x * self.s

    def backward(self, g: np.ndarray) -> np.ndarray:
        s = self.s
        d = 1 - s
        d *= self.x
        d += 1
        d *= s
        d *= g
        return d


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (a.k.a. swish). Shape: any -> same.

    ``inplace``: accepted for PyTorch compatibility; the result is always a new tensor.
    """
    return SiLU.apply(x)


class Softplus(Function):
    """y = log(1 + e^(b x)) / b (y = x where b x > threshold);  dy/dx = sigmoid(b x) (or 1)."""

    def forward(self, x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
        xp = get_array_module(x)
        bx = x * beta if beta != 1 else x
        self.linear = bx > threshold
        e = xp.exp(xp.minimum(bx, threshold))  # e^(b x), capped where y is x anyway
        self.e = e
        y = _log1p(e)
        if beta != 1:
            y /= beta
        return xp.where(self.linear, x, y)

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        e = self.e
        s = e / (1 + e)
        return xp.where(self.linear, g, g * s)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """A smooth ReLU: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.

    Shape: any -> same.
    """
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


# ---- logsigmoid, hardtanh, prelu (written xp-style: the array module comes from the input) ---


class LogSigmoid(Function):
    """y = log(sigmoid(x)) = min(x, 0) - log(1 + e^-|x|);  dy/dx = sigmoid(-x) = 1 - sigmoid(x)."""

    def forward(self, x: Any) -> Any:
        xp = get_array_module(x)
        self.x = x
        self.e = xp.exp(-xp.abs(x))  # e^-|x| in (0, 1]: never overflows
        return xp.minimum(x, 0) - xp.log1p(self.e)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        e = self.e
        num = xp.where(self.x < 0, 1, e).astype(g.dtype)  # sigmoid(-x) = num / (1 + e^-|x|)
        return g * num / (1 + e)


def logsigmoid(x: Tensor) -> Tensor:
    """log(1 / (1 + exp(-x))), stable for any x (PyTorch's ``F.logsigmoid``). Shape: any -> same.

    >>> logsigmoid(deepwise.tensor([0.0])).tolist()
    [-0.6931471824645996]
    """
    return LogSigmoid.apply(x)


class Hardtanh(Function):
    """y = clip(x, lo, hi);  dy/dx = 1 where lo < x < hi, else 0 (PyTorch's convention)."""

    def forward(self, x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        xp = get_array_module(x)
        self.inside = (x > min_val) & (x < max_val)
        return xp.clip(x, min_val, max_val)

    def backward(self, g: Any) -> Any:
        return g * self.inside


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]. Shape: any -> same. ``inplace``: accepted for PyTorch
    compatibility; the result is always a new tensor."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return Hardtanh.apply(x, min_val=float(min_val), max_val=float(max_val))


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) (MobileNet's clipped ReLU): ``hardtanh(x, 0, 6)``. Shape: any -> same."""
    return Hardtanh.apply(x, min_val=0.0, max_val=6.0)


class PReLU(Function):
    """y = max(x, 0) + a min(x, 0), a per channel (dim 1);  dy/dx = 1 where x > 0, else a;
    dy/da = min(x, 0), summed over every axis but the channel's."""

    def forward(self, x: Any, a: Any) -> Any:
        xp = get_array_module(x)
        self.x = x
        self.a_shape = a.shape
        shape = [1] * x.ndim
        if a.size > 1:
            shape[1] = a.size
        self.a = a.reshape(shape) if x.ndim else a.reshape(())
        return xp.where(x > 0, x, self.a * x)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        x = self.x
        pos = x > 0
        gx = xp.where(pos, g, g * self.a) if self.needs_input_grad[0] else None
        ga = None
        if self.needs_input_grad[1]:
            d = xp.where(pos, 0, g * x)
            if self.a.size > 1:
                axes = tuple(k for k in range(x.ndim) if k != 1)
                ga = d.sum(axis=axes).reshape(self.a_shape)
            else:
                ga = xp.asarray(d.sum(), dtype=g.dtype).reshape(self.a_shape)
        return gx, ga


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """Parametric ReLU (He et al. 2015): x where x > 0, ``weight * x`` elsewhere; ``weight`` has
    1 element (shared) or one per channel (``x.shape[1]``). Shape: (N, C, *) -> same.

    >>> prelu(deepwise.tensor([[-2.0, 3.0]]), deepwise.tensor([0.25])).tolist()
    [[-0.5, 3.0]]
    """
    xp = get_array_module(x, weight)
    n = weight.numel() if hasattr(weight, "numel") else int(xp.size(weight))
    channels = x.shape[1] if x.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise ShapeError(f"prelu: weight has {n} elements, expected 1 or the number of channels "
                         f"(input dim 1) {channels}; input shape {tuple(x.shape)}")
    check_dtypes("prelu", x, weight, ("input", "weight"))
    return PReLU.apply(x, weight)


# ---- softmax ------------------------------------------------------------------------------------


class Softmax(Function):
    """y_i = e^(x_i) / sum_j e^(x_j) over dim;  dL/dx = y * (g - sum_j g_j y_j)."""

    def forward(self, x: np.ndarray, dim: int = -1) -> np.ndarray:
        xp = get_array_module(x)
        self.dim = dim
        if kernels.enabled(x) and kattn.rows(x, dim, forward=True):
            self.out = kattn.softmax_rows_forward(x)  # fast path: the same, a short row at a time
            return self.out
        y = x - x.max(axis=dim, keepdims=True)  # the largest exponent is 0: no overflow
        xp.exp(y, out=y)
        y /= y.sum(axis=dim, keepdims=True)
        self.out = y
        return y

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        y = self.out
        if kernels.enabled(g, y) and kattn.rows(y, self.dim):  # fast path: one pass per row
            d = kattn.softmax_rows_backward(g, y)
            if d is not None:
                return d
        d = g * y
        s = d.sum(axis=self.dim, keepdims=True)
        xp.subtract(g, s, out=d)
        d *= y
        return d


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / exp(x).sum(dim), computed as exp(x - max) so huge logits stay finite.

    Shape: any -> same; each slice along ``dim`` sums to 1. ``dtype``: cast ``x`` first.

    >>> softmax(deepwise.tensor([[1.0, 1.0]]), dim=-1)
    tensor([[0.5, 0.5]])
    """
    if dtype is not None:
        x = cast(x, dtype)
    if x.ndim == 0:
        _dim("softmax", dim, 0)
        return Softmax.apply(x.reshape(1), dim=0).reshape(())
    return Softmax.apply(x, dim=_dim("softmax", dim, x.ndim))


class LogSoftmax(Function):
    """y_i = x_i - log sum_j e^(x_j) over dim;  dL/dx = g - e^y * sum_j g_j."""

    def forward(self, x: np.ndarray, dim: int = -1) -> np.ndarray:
        xp = get_array_module(x)
        self.dim = dim
        if kernels.enabled(x) and kattn.rows(x, dim, forward=True):
            self.out = kattn.log_softmax_rows(x)  # fast path: the same, a short row at a time
            return self.out
        y = x - x.max(axis=dim, keepdims=True)
        y -= xp.log(xp.exp(y).sum(axis=dim, keepdims=True))
        self.out = y
        return y

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        if kernels.enabled(g, self.out) and kattn.rows(self.out, self.dim):  # fast path
            d = kattn.log_softmax_rows_backward(g, self.out)  # exp(y), then one pass per row
            if d is not None:
                return d
        d = xp.exp(self.out)
        d *= g.sum(axis=self.dim, keepdims=True)
        xp.subtract(g, d, out=d)
        return d


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """log(softmax(x, dim)), computed as (x - max) - log(sum(exp(x - max))): finite for any
    logits, and more accurate than taking the log of softmax. Shape: any -> same."""
    if dtype is not None:
        x = cast(x, dtype)
    if x.ndim == 0:
        _dim("log_softmax", dim, 0)
        return LogSoftmax.apply(x.reshape(1), dim=0).reshape(())
    return LogSoftmax.apply(x, dim=_dim("log_softmax", dim, x.ndim))


# ---- dropout ------------------------------------------------------------------------------------


class Dropout(Function):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p);  dy/dx = m / (1 - p) (the same mask)."""

    def forward(self, x: np.ndarray, p: float = 0.5) -> np.ndarray:
        xp = get_array_module(x)
        u = backend.on_device_of(default_generator().random(x.shape, dtype=np.float32), x)
        scale = 1.0 / (1.0 - p) if p < 1 else 0.0
        if kernels.enabled(x, u):  # fast path: the mask below and x * mask in one pass
            fused = kact.dropout_forward(x, u, p, scale)
            if fused is not None:
                self.mask, y = fused
                return y
        self.mask = xp.multiply(u >= p, scale, dtype=x.dtype)  # kept: 1/(1-p), dropped: 0
        return x * self.mask

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): zero each element with probability ``p`` and
    scale the rest by 1/(1-p), so the expected value is unchanged and evaluation needs no
    rescaling. The mask is drawn from deepwise's one generator (``manual_seed`` repeats it).

    Shape: any -> same. ``training=False`` or ``p=0`` returns ``x`` itself.
    ``inplace``: accepted for PyTorch compatibility; the result is always a new tensor.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got p={p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=float(p))
