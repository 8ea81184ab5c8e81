"""Loss functions: each is one Function that computes the per-element loss and its reduction.

Fusing the reduction into the op saves a graph node and lets backward scale the gradient once:
for ``reduction='mean'`` every element's gradient is ``g / n`` (``n`` the element count, or the
sum of the class weights for weighted cross-entropy / nll, as in PyTorch); for ``'sum'`` it is
``g``; for ``'none'`` it is ``g[i]``. Cross-entropy is log_softmax and nll in one op, whose
backward is ``softmax - target``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..kernels import loss as _kloss
from ..tensor import Tensor
from .activation import _log1p, _sigmoid
from .arith import cast

__all__ = [
    'cross_entropy', 'nll_loss', 'mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss',
    'binary_cross_entropy', 'binary_cross_entropy_with_logits', 'one_hot',
]

TENSOR_METHODS: tuple[str, ...] = ()

# ---- shared helpers ---------------------------------------------------------------------------


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: np.ndarray, reduction: str, denom: Any) -> np.ndarray:
    """'none': the per-element loss; 'sum': its sum; 'mean': its sum / denom."""
    xp = get_array_module(loss, reduction, denom)
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return xp.asarray(total)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 -> nan, as in PyTorch
        return xp.asarray(total / xp.asarray(denom, loss.dtype))


def _upstream(g: np.ndarray, reduction: str, denom: Any) -> np.ndarray:
    """dL/d(per-element loss): g (per element for 'none'), or g / denom for 'mean'."""
    xp = get_array_module(g, reduction, denom)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return g / xp.asarray(denom, g.dtype)
    return g


def _data(x: Any) -> np.ndarray:
    xp = get_array_module(x)
    return x.data if isinstance(x, Tensor) else xp.asarray(x)


def _check_input(op: str, input: Tensor) -> None:  # noqa: A002 - PyTorch's name
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got {input.dtype}")


def _like_input(op: str, input: Tensor, target: Any, what: str = "target") -> Any:  # noqa: A002
    """``target`` checked to have the input's shape, in the input's dtype (a Tensor stays one)."""
    xp = get_array_module(op, input, target)
    ts = tuple(xp.shape(_data(target)))
    if ts != tuple(input.shape):
        raise ShapeError(
            f"{op}: input has shape {tuple(input.shape)} but {what} has shape {ts}; they must be "
            "the same (PyTorch would broadcast them, which is almost always a bug: e.g. an "
            "output of shape (N, 1) against a target of shape (N,)). Reshape one of them.")
    if isinstance(target, Tensor):
        return target if target.dtype == input.dtype else cast(target, input.dtype)
    return xp.asarray(target, dtype=input.dtype)


def _weight(op: str, weight: Any, input: Tensor, what: str = "weight") -> np.ndarray | None:  # noqa: A002
    """An element weight (a constant, no gradient) that broadcasts to the input's shape."""
    if weight is None:
        return None
    w = _data(weight)
    try:
        ok = np.broadcast_shapes(w.shape, tuple(input.shape)) == tuple(input.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{op}: {what} of shape {w.shape} does not broadcast to the input's "
                         f"shape {tuple(input.shape)}")
    return w.astype(input.dtype, copy=False)


# ---- classification: cross-entropy and negative log-likelihood --------------------------------


def _class_targets(op: str, target: np.ndarray, n_classes: int, weight: np.ndarray | None,
                   ignore_index: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(indices with ignored entries set to 0, per-entry weight w[y] (0 where ignored), valid).

    Raises IndexError for a class outside [0, C) that is not ``ignore_index``.
    """
    xp = get_array_module(op, target, n_classes, weight, ignore_index, dtype)
    valid = target != ignore_index
    tgt = target if valid.all() else xp.where(valid, target, 0)
    if tgt.size:
        lo, hi = tgt.min(), tgt.max()
        if lo < 0 or hi >= n_classes:
            bad = int(hi if hi >= n_classes else lo)
            raise IndexError(
                f"{op}: target contains class {bad} but input has {n_classes} classes (C); "
                f"classes are 0..{n_classes - 1}, or ignore_index={ignore_index} to skip an entry")
    if weight is None:
        wy = valid.astype(dtype)
    else:
        wy = weight[tgt]
        wy *= valid
    return tgt, wy, valid


def _class_axis_view(weight: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) weight shaped (1, C, 1, ...) to broadcast against an (N, C, d1, ...) input."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


class CrossEntropy(Function):
    """l_i = -sum_c a_ic log softmax(x_i)_c;  dl_i/dx_i = softmax(x_i) * sum_c a_ic - a_i.

    ``a_i`` is the target of row i, weighted and smoothed: for a class index y,
    a_ic = (1 - eps) w_y [c = y] + eps/C w_c (0 for an ignored entry); for probabilities t,
    a_ic = w_c ((1 - eps) t_ic + eps/C). Shapes: x (N, C, d1, ...); target (N, d1, ...) of
    class indices or (N, C, d1, ...) of probabilities; class axis 1.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0,
                target_grad: bool = False) -> np.ndarray:
        self.reduction, self.eps = reduction, label_smoothing
        self.wb = None if weight is None else _class_axis_view(weight, x.ndim)
        if target.dtype.kind == "f":
            z = x - x.max(axis=1, keepdims=True)  # log-softmax shifted so exp cannot overflow
            loss = self._forward_probs(z, target, target_grad)
        else:
            loss = self._forward_classes(x, target, weight, ignore_index)
        return _reduce(loss, reduction, self.denom)

    def _forward_classes(self, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                         ignore_index: int) -> np.ndarray:
        xp = get_array_module(x, target, weight, ignore_index)
        n_classes, eps = x.shape[1], self.eps
        tgt, wy, valid = _class_targets("cross_entropy", target, n_classes, weight,
                                        ignore_index, x.dtype)
        self.soft, self.tgt, self.wy, self.valid = False, tgt[:, None], wy, valid
        if x.ndim == 2 and not eps and x.shape[1] <= _kloss.MAX_CLASSES and \
                x.dtype in _kloss.DTYPES and kernels.enabled(x, tgt):
            # fast path (kernels.loss.softmax_parts): the same e, s and z_y as the lines below;
            # the row max, shift and target pick in one pass, the row sums as one GEMV
            self.e, self.s, zy = _kloss.softmax_parts(x, tgt)
        else:
            z = x - x.max(axis=1, keepdims=True)  # log-softmax shifted so exp cannot overflow
            zy = xp.take_along_axis(z, self.tgt, axis=1)[:, 0]
            if eps:
                zs = (z if self.wb is None else z * self.wb).sum(axis=1)
                self.wsum = n_classes if weight is None else weight.sum()
            self.e = xp.exp(z, out=z)
            self.s = z.sum(axis=1)
        lse = xp.log(self.s)
        loss = lse - zy  # -log p_y
        loss *= wy
        if eps:
            loss *= 1 - eps
            smooth = self.wsum * lse - zs  # -sum_c w_c log p_c
            smooth *= valid
            smooth *= eps / n_classes
            loss += smooth
        self.denom = wy.sum()
        return loss

    def _forward_probs(self, z: np.ndarray, target: np.ndarray, target_grad: bool) -> np.ndarray:
        xp = get_array_module(z, target, target_grad)
        n_classes, eps = z.shape[1], self.eps
        a = target * (1 - eps) + eps / n_classes if eps else target
        if self.wb is not None:
            a = a * self.wb
        self.soft, self.a, self.asum = True, a, a.sum(axis=1)
        za = (a * z).sum(axis=1)
        self.e = xp.exp(z) if target_grad else xp.exp(z, out=z)
        self.s = self.e.sum(axis=1)
        lse = xp.log(self.s)
        if target_grad:  # dl/dt_c = -(1 - eps) w_c log p_c
            z -= lse[:, None]
            self.logp = z
        self.denom = z.size // n_classes if n_classes else 0
        return self.asum * lse - za

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        gi = _upstream(g, self.reduction, self.denom)  # dL/dl_i: () or (N, d1, ...)
        eps = self.eps
        if self.soft:
            gi = xp.broadcast_to(gi, self.s.shape)
            gx = self.e * (gi * self.asum / self.s)[:, None]
            gx -= self.a * gi[:, None]
            gt = None
            if self.needs_input_grad[1]:
                gt = self.logp * (-(1 - eps) * gi[:, None])
                if self.wb is not None:
                    gt *= self.wb
            return gx, gt
        n_classes = self.e.shape[1]
        ay = self.wy * gi  # the weight of the target class in a, times dL/dl_i
        if eps:
            ay *= 1 - eps
            rest = self.valid * (gi * (eps / n_classes))  # eps/C, to be spread over all classes
            asum = ay + rest * self.wsum
        else:
            asum = ay
        idx = self.tgt
        if self.e.ndim == 2 and kernels.enabled(self.e, asum, ay) and \
                self.e.dtype in _kloss.DTYPES and asum.dtype == ay.dtype == self.e.dtype:
            # fast path (kernels.loss.softmax_grad): the two lines below in one pass per row
            gx = _kloss.softmax_grad(self.e, self.s, asum, idx[:, 0], ay)
        else:
            gx = self.e * (asum / self.s)[:, None]
            xp.put_along_axis(gx, idx, xp.take_along_axis(gx, idx, axis=1) - ay[:, None], axis=1)
        if eps:
            gx -= rest[:, None] if self.wb is None else rest[:, None] * self.wb
        return gx, None


def _classification_args(op: str, input: Tensor, target: Any, weight: Any,  # noqa: A002
                         reduction: str, soft_ok: bool) -> tuple[Tensor, Any, np.ndarray | None]:
    """Check shapes and dtypes; return input/target batched (an unbatched (C,) input gets N = 1)
    and the class weight as a constant (C,) array in the input's dtype."""
    _check_input(op, input)
    _check_reduction(op, reduction)
    shape = tuple(input.shape)
    t = _data(target)
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must have a class dimension - (C,), (N, C) or "
                         "(N, C, d1, ...) - got a 0-d tensor")
    n_classes = shape[0] if input.ndim == 1 else shape[1]
    want = () if input.ndim == 1 else (shape[0],) + shape[2:]
    if t.dtype.kind == "f" and soft_ok:
        if t.shape != shape:
            raise ShapeError(
                f"{op}: a class-probability target (float) must have the input's shape {shape}, "
                f"got {t.shape}; for class indices pass an integer target of shape {want}")
        if isinstance(target, Tensor):
            target = target if target.dtype == input.dtype else cast(target, input.dtype)
        else:
            target = t.astype(input.dtype, copy=False)
    elif t.dtype.kind in "iu":
        if t.shape != want:
            raise ShapeError(
                f"{op}: for an input of shape {shape} the target of class indices must have shape "
                f"{want} (input (N, C, d1, ...) -> target (N, d1, ...)), got {t.shape}")
    else:
        kind = "class indices (an integer tensor)" + (
            " or class probabilities (a float tensor of the input's shape)" if soft_ok else "")
        raise TypeError(f"{op}: target must hold {kind}, got {t.dtype}")
    w = None
    if weight is not None:
        w = _data(weight)
        if w.shape != (n_classes,):
            raise ShapeError(f"{op}: weight must have one entry per class, shape (C,) = "
                             f"({n_classes},), got {w.shape}")
        w = w.astype(input.dtype, copy=False)
    if input.ndim == 1:
        return input.reshape(1, n_classes), target.reshape((1,) + t.shape), w
    return input, target, w


def cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002 - PyTorch's name
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) over dim 1 and ``target``: log_softmax + nll in one op.

    Shapes: input (N, C) or (N, C, d1, ...) of logits, or (C,) unbatched; target either class
    indices (N,) / (N, d1, ...) (int; entries equal to ``ignore_index`` are skipped), or class
    probabilities of the input's shape (float). ``weight`` (C,): a weight per class; with class
    indices, 'mean' divides by the sum of the weights of the non-ignored targets (PyTorch's rule).
    ``label_smoothing`` eps mixes the target with the uniform distribution: (1 - eps) t + eps/C.
    Output: () for 'mean'/'sum', (N, d1, ...) for 'none'.

    >>> logits = deepwise.tensor([[2.0, 0.0, 0.0]])
    >>> cross_entropy(logits, deepwise.tensor([0]))   # -log(e^2 / (e^2 + 2))
    tensor(0.2395)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    unbatched = isinstance(input, Tensor) and input.ndim == 1
    x, t, w = _classification_args("cross_entropy", input, target, weight, reduction, True)
    target_grad = isinstance(t, Tensor) and t.requires_grad
    out = CrossEntropy.apply(x, t, weight=w, ignore_index=int(ignore_index), reduction=reduction,
                             label_smoothing=float(label_smoothing), target_grad=target_grad)
    return out.reshape(()) if unbatched and reduction == "none" else out


class NLLLoss(Function):
    """l_i = -w_(y_i) x_(i, y_i);  dl_i/dx_ic = -w_(y_i) if c = y_i else 0 (x: log-probabilities).

    Shapes: x (N, C, d1, ...), target (N, d1, ...) of class indices; class axis 1.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                ignore_index: int = -100, reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, target)
        tgt, wy, valid = _class_targets("nll_loss", target, x.shape[1], weight, ignore_index,
                                        x.dtype)
        self.shape, self.tgt, self.wy, self.reduction = x.shape, tgt[:, None], wy, reduction
        loss = xp.take_along_axis(x, self.tgt, axis=1)[:, 0]
        with np.errstate(invalid="ignore"):  # 0 * -inf at an ignored entry: zeroed below
            loss *= -wy
        if not valid.all():
            loss[~valid] = 0  # an ignored entry adds nothing, even where x is -inf
        self.denom = wy.sum()
        return _reduce(loss, reduction, self.denom)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        gi = _upstream(g, self.reduction, self.denom)
        gx = xp.zeros(self.shape, g.dtype)
        xp.put_along_axis(gx, self.tgt, (-self.wy * gi)[:, None], axis=1)
        return gx, None


def nll_loss(input: Tensor, target: Any, weight: Any = None,  # noqa: A002 - PyTorch's name
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -input[i, target[i]] (times weight[target[i]]), reduced.

    ``input`` holds log-probabilities (e.g. from log_softmax over dim 1): shape (N, C),
    (N, C, d1, ...) or (C,); target (N,) / (N, d1, ...) / () of class indices. 'mean' divides
    by the sum of the weights of the non-ignored targets. Output: () or, for 'none', (N, d1, ...).
    """
    unbatched = isinstance(input, Tensor) and input.ndim == 1
    x, t, w = _classification_args("nll_loss", input, target, weight, reduction, False)
    out = NLLLoss.apply(x, t, weight=w, ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


# ---- regression -------------------------------------------------------------------------------


class MSELoss(Function):
    """l = w (x - t)^2;  dl/dx = 2 w (x - t), dl/dt = -dl/dx."""

    def forward(self, x: np.ndarray, t: np.ndarray, weight: np.ndarray | None = None,
                reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        d = x - t
        self.d, self.w, self.reduction = d, weight, reduction
        loss = d * d
        if weight is not None:
            loss *= weight
        self.denom = loss.size if weight is None else xp.broadcast_to(weight, d.shape).sum()
        return _reduce(loss, reduction, self.denom)

    def backward(self, g: np.ndarray) -> tuple:
        nx, nt = self.needs_input_grad
        gx = self.d * (2 * _upstream(g, self.reduction, self.denom))
        if self.w is not None:
            gx *= self.w
        return (gx if nx else None), (-gx if nt else None)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002 - PyTorch's name
             weight: Any = None) -> Tensor:
    """Mean squared error (x - t)^2, reduced. Shape: input and target the same shape ->
    () or, for 'none', that shape. ``weight`` (a constant of the input's shape) scales each
    element; then 'mean' divides by the sum of the weights (PyTorch's rule)."""
    _check_input("mse_loss", input)
    _check_reduction("mse_loss", reduction)
    t = _like_input("mse_loss", input, target)
    w = None if weight is None else _like_input("mse_loss", input, _data(weight), "weight")
    return MSELoss.apply(input, t, weight=w, reduction=reduction)


class L1Loss(Function):
    """l = |x - t|;  dl/dx = sign(x - t) (0 where x = t), dl/dt = -dl/dx."""

    def forward(self, x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        d = x - t
        self.sign, self.reduction = xp.sign(d), reduction
        return _reduce(xp.abs(d, out=d), reduction, d.size)

    def backward(self, g: np.ndarray) -> tuple:
        nx, nt = self.needs_input_grad
        gx = self.sign * _upstream(g, self.reduction, self.sign.size)
        return (gx if nx else None), (-gx if nt else None)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error |x - t|, reduced. Shape: input and target the same shape -> () or,
    for 'none', that shape."""
    _check_input("l1_loss", input)
    _check_reduction("l1_loss", reduction)
    return L1Loss.apply(input, _like_input("l1_loss", input, target), reduction=reduction)


class SmoothL1Loss(Function):
    """l = (x-t)^2 / (2b) where |x-t| < b, else |x-t| - b/2;  dl/dx = clip((x-t)/b, -1, 1).

    With b = 0 it is the L1 loss: dl/dx = sign(x - t).
    """

    def forward(self, x: np.ndarray, t: np.ndarray, beta: float = 1.0,
                reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        d = x - t
        self.d, self.beta, self.reduction = d, beta, reduction
        ad = xp.abs(d)
        if beta == 0:  # the L1 loss
            return _reduce(ad, reduction, d.size)
        c = xp.minimum(ad, beta)  # c (|d| - c/2) / b is either piece (no np.where: it is slow)
        ad -= 0.5 * c
        ad *= c
        ad *= 1 / beta
        return _reduce(ad, reduction, d.size)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        nx, nt = self.needs_input_grad
        d, beta = self.d, self.beta
        gx = xp.sign(d) if beta == 0 else xp.clip(d / beta, -1, 1)
        gx *= _upstream(g, self.reduction, d.size)
        return (gx if nx else None), (-gx if nt else None)


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    """Smooth L1 (Fast R-CNN): quadratic for |x - t| < beta, linear beyond; beta = 0 is L1.

    Shape: input and target the same shape -> () or, for 'none', that shape.
    """
    _check_input("smooth_l1_loss", input)
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    t = _like_input("smooth_l1_loss", input, target)
    return SmoothL1Loss.apply(input, t, beta=float(beta), reduction=reduction)


class HuberLoss(Function):
    """l = (x - t)^2 / 2 where |x - t| < delta, else delta (|x - t| - delta/2);
    dl/dx = clip(x - t, -delta, delta), dl/dt = -dl/dx (times the element weight w)."""

    def forward(self, x: np.ndarray, t: np.ndarray, delta: float = 1.0,
                weight: np.ndarray | None = None, reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        d = x - t
        self.d, self.delta, self.w, self.reduction = d, delta, weight, reduction
        loss = xp.abs(d)
        c = xp.minimum(loss, delta)  # c (|d| - c/2) is either piece (no np.where: it is slow)
        loss -= 0.5 * c
        loss *= c
        if weight is not None:
            loss *= weight
        return _reduce(loss, reduction, d.size)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        nx, nt = self.needs_input_grad
        d = self.d
        gx = xp.clip(d, -self.delta, self.delta)
        gx *= _upstream(g, self.reduction, d.size)
        if self.w is not None:
            gx *= self.w
        return (gx if nx else None), (-gx if nt else None)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Any = None) -> Tensor:
    """Huber loss: quadratic for |x - t| < delta, linear (slope delta) beyond.

    Shape: input and target the same shape -> () or, for 'none', that shape. ``weight`` (a
    constant of the input's shape) scales each element; 'mean' still divides by the element
    count (PyTorch's rule for this loss).
    """
    _check_input("huber_loss", input)
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    t = _like_input("huber_loss", input, target)
    w = None if weight is None else _like_input("huber_loss", input, _data(weight), "weight")
    return HuberLoss.apply(input, t, delta=float(delta), weight=w, reduction=reduction)


# ---- binary classification --------------------------------------------------------------------


class BinaryCrossEntropy(Function):
    """l = -w (t log x + (1 - t) log(1 - x)), each log clamped at -100;
    dl/dx = w (x - t) / max(x (1 - x), 1e-12), dl/dt = -w log(x / (1 - x))."""

    def forward(self, x: np.ndarray, t: np.ndarray, weight: np.ndarray | None = None,
                reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        self.x, self.t, self.w, self.reduction = x, t, weight, reduction
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(_log1p(-x), -100)
        # -(t log x + (1 - t) log(1 - x)) = t (log(1 - x) - log x) - log(1 - x)
        loss = log_1mx - log_x
        loss *= t
        loss -= log_1mx
        if weight is not None:
            loss *= weight
        return _reduce(loss, reduction, x.size)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        nx, nt = self.needs_input_grad
        x, t, w = self.x, self.t, self.w
        gi = _upstream(g, self.reduction, x.size)
        if w is not None:
            gi = gi * w
        gx = gt = None
        if nx:
            gx = x - t
            gx /= xp.maximum(x * (1 - x), 1e-12)
            gx *= gi
        if nt:
            with np.errstate(divide="ignore"):
                gt = _log1p(-x) - xp.log(x)
            gt *= gi
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` (in [0, 1]) and ``target``.

    Shape: input and target the same shape; ``weight`` (constant) broadcasts to it. Output: ()
    or, for 'none', the input's shape. The logs are clamped at -100 (so x = 0 or 1 gives a loss
    of at most 100, as in PyTorch). Prefer binary_cross_entropy_with_logits: it is stable.
    """
    op = "binary_cross_entropy"
    _check_input(op, input)
    _check_reduction(op, reduction)
    t = _like_input(op, input, target)
    x = input.data
    if x.size and not (x.min() >= 0 and x.max() <= 1):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1 (got values in "
                         f"[{x.min():.4g}, {x.max():.4g}]); apply sigmoid first, or use "
                         "binary_cross_entropy_with_logits on the logits")
    w = _weight(op, weight, input)
    return BinaryCrossEntropy.apply(input, t, weight=w, reduction=reduction)


class BCEWithLogits(Function):
    """l = w ((1 - t) x + (1 + (p - 1) t) softplus(-x));
    dl/dx = w ((1 - t) - (1 + (p - 1) t) sigmoid(-x)), dl/dt = w (-x + (p - 1) softplus(-x)).

    p is pos_weight (p = 1: dl/dx = w (sigmoid(x) - t)); softplus(-x) = max(-x, 0) +
    log(1 + e^-|x|) never overflows.
    """

    def forward(self, x: np.ndarray, t: np.ndarray, weight: np.ndarray | None = None,
                pos_weight: np.ndarray | None = None, reduction: str = "mean") -> np.ndarray:
        xp = get_array_module(x, t)
        sp = xp.abs(x)
        xp.negative(sp, out=sp)
        sp = _log1p(xp.exp(sp, out=sp))
        sp += xp.maximum(-x, 0)  # softplus(-x) = -log sigmoid(x)
        self.x, self.t, self.sp, self.w, self.pw = x, t, sp, weight, pos_weight
        self.reduction = reduction
        self.lw = None if pos_weight is None else 1 + (pos_weight - 1) * t
        loss = (1 - t) * x
        loss += sp if self.lw is None else self.lw * sp
        if weight is not None:
            loss *= weight
        return _reduce(loss, reduction, x.size)

    def backward(self, g: np.ndarray) -> tuple:
        nx, nt = self.needs_input_grad
        x, t, w = self.x, self.t, self.w
        gi = _upstream(g, self.reduction, x.size)
        if w is not None:
            gi = gi * w
        gx = gt = None
        if nx:
            s = _sigmoid(-x)  # sigmoid(-x)
            if self.lw is not None:
                s *= self.lw
            gx = 1 - t
            gx -= s
            gx *= gi
        if nt:
            gt = -x if self.pw is None else (self.pw - 1) * self.sp - x
            gt = gt * gi
        return gx, gt


def binary_cross_entropy_with_logits(input: Tensor, target: Any,  # noqa: A002 - PyTorch's name
                                     weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """sigmoid + binary cross-entropy in one stable op, on logits ``input``.

    Shape: input and target the same shape; ``weight`` (constant) broadcasts to it;
    ``pos_weight`` (constant, e.g. (C,) for an (N, C) input) weights the positive term of each
    class: > 1 raises recall, < 1 precision. Output: () or, for 'none', the input's shape.
    """
    op = "binary_cross_entropy_with_logits"
    _check_input(op, input)
    _check_reduction(op, reduction)
    t = _like_input(op, input, target)
    w = _weight(op, weight, input)
    pw = _weight(op, pos_weight, input, "pos_weight")
    return BCEWithLogits.apply(input, t, weight=w, pos_weight=pw, reduction=reduction)


# ---- not differentiable -------------------------------------------------------------------------


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices -> one-hot rows: shape (*) -> (*, num_classes), int64, no gradient.

    ``num_classes=-1`` takes the largest index + 1.

    >>> one_hot(deepwise.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    xp = get_array_module(tensor)
    idx = _data(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {idx.dtype}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass "
                             "num_classes")
        num_classes = int(idx.max()) + 1
    if idx.size:
        if idx.min() < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
        if idx.max() >= num_classes:
            raise ValueError(f"one_hot: class values must be smaller than num_classes="
                             f"{num_classes}, got {int(idx.max())}")
    out = idx[..., None] == xp.arange(num_classes)
    return Tensor._make(out.astype(np.int64))
