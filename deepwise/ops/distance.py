"""Distances and metric losses: normalize, cosine_similarity, pairwise_distance,
triplet_margin_loss and batch_hard_triplet_loss.

A metric loss trains an *embedding*: a network that maps each input to a point so that
points of the same identity are close and points of different identities far apart. Two
photos are then compared by the distance (or cosine similarity) of their points, which works
for identities the network never saw in training (face verification).

Every op reduces over one axis with a p-norm ``||v||_p = (sum_i |v_i|^p)^(1/p)``, whose
derivative is ``d||v||_p / dv_i = sign(v_i) |v_i|^(p-1) / ||v||_p^(p-1)`` (``v / ||v||`` for
p = 2; taken as 0 where ``||v|| = 0``, as PyTorch does).

* normalize: ``x / max(||x||_p, eps)`` along ``dim``.
* cosine_similarity: ``sum(x1/max(||x1||, eps) * x2/max(||x2||, eps))`` along ``dim``.
* pairwise_distance: ``||x1 - x2 + eps||_p`` along the last axis (row-wise distances).
* triplet_margin_loss: ``max(0, margin + d(a, p) - d(a, n))`` (Schroff et al., FaceNet 2015;
  ``swap`` uses ``min(d(a, n), d(p, n))``, Balntas et al. 2016), as ``torch.nn.functional``.
* batch_hard_triplet_loss: for each anchor of a batch, its hardest positive (farthest photo
  of the same identity) and hardest negative (nearest photo of another), Hermans, Beyer and
  Leibe, "In defense of the triplet loss for person re-identification" (2017).
* additive_angular_margin: ArcFace's logits (Deng et al., 2019): the cosine between an
  embedding and its own class's centre becomes ``cos(theta + m)``, so the softmax must win by
  an angle ``m``; cross-entropy on ``s *`` these logits trains the embedding.

>>> x = deepwise.tensor([[3.0, 4.0]])
>>> normalize(x)
tensor([[0.6, 0.8]])
"""

# ruff: noqa: A002 - `input` is the argument name PyTorch uses
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import DimError, Function, ShapeError, unbroadcast
from ..backend import get_array_module
from ..tensor import Tensor
from .loss import _check_reduction, _reduce, _upstream

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "triplet_margin_loss",
           "batch_hard_triplet_loss", "additive_angular_margin"]

TENSOR_METHODS: tuple[str, ...] = ()


# ---- shared helpers ---------------------------------------------------------------------------


def _check_float(op: str, **tensors: Any) -> None:
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating-point tensor, got {t.dtype}")


def _axis(op: str, dim: Any, ndim: int) -> int:
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -n <= dim < n:
        raise DimError(f"{op}: dim {dim!r} is out of range for a tensor with {ndim} "
                       f"dimension(s); expected an int in [{-n}, {n - 1}]")
    return int(dim) % n


def _check_p(op: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 1 <= p < math.inf:
        raise ValueError(f"{op}: p must be a finite number >= 1 (the p-norm), got {p!r}")
    return float(p)


def _broadcast(op: str, a: Tensor, b: Tensor, names: tuple[str, str]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise ShapeError(f"{op}: {names[0]} of shape {tuple(a.shape)} and {names[1]} of shape "
                         f"{tuple(b.shape)} do not broadcast together") from None


def _pnorm(v: Any, p: float, axis: int) -> Any:
    """||v||_p along ``axis`` (kept as a size-1 axis)."""
    xp = get_array_module(v)
    if p == 2.0:
        return xp.sqrt(xp.sum(v * v, axis=axis, keepdims=True))
    if p == 1.0:
        return xp.sum(xp.abs(v), axis=axis, keepdims=True)
    return xp.sum(xp.abs(v) ** p, axis=axis, keepdims=True) ** (1.0 / p)


def _pnorm_grad(v: Any, n: Any, p: float) -> Any:
    """d||v||_p / dv = sign(v) |v|^(p-1) / ||v||^(p-1), 0 where ||v|| = 0."""
    xp = get_array_module(v)
    safe = xp.where(n == 0, 1, n)
    if p == 2.0:
        return xp.where(n == 0, 0, v / safe)
    if p == 1.0:
        return xp.sign(v)
    return xp.where(n == 0, 0, xp.sign(v) * (xp.abs(v) / safe) ** (p - 1))


# ---- normalize and cosine similarity ----------------------------------------------------------


class Normalize(Function):
    """y = x / max(||x||_p, eps);  dL/dx = g / n - (sum(g x) / n^2) d||x||/dx where ||x|| > eps,
    g / eps where the norm is clamped (n = max(||x||, eps), sums along ``dim``)."""

    def forward(self, x: np.ndarray, p: float, axis: int, eps: float) -> np.ndarray:
        xp = get_array_module(x)
        raw = _pnorm(x, p, axis)
        self.x, self.raw, self.p, self.axis = x, raw, p, axis
        self.n = xp.maximum(raw, eps)
        return x / self.n

    def backward(self, g: np.ndarray) -> np.ndarray:
        xp = get_array_module(g)
        x, n = self.x, self.n
        dx = g / n
        free = self.raw >= n  # the norm is not clamped to eps there
        coef = xp.sum(g * x, axis=self.axis, keepdims=True) / (n * n) * free
        return dx - coef * _pnorm_grad(x, self.raw, self.p)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``: unit vectors (PyTorch's F.normalize).

    Shape: any; the output has the input's shape. ``p``: a finite norm order >= 1.
    """
    _check_float("normalize", input=input)
    if input.ndim == 0:
        raise ShapeError("normalize: expected a tensor with at least 1 dimension, got a 0-d one")
    axis = _axis("normalize", dim, input.ndim)
    return Normalize.apply(input, p=_check_p("normalize", p), axis=axis, eps=float(eps))


class CosineSimilarity(Function):
    """s = sum(u v), u = x1 / n1, v = x2 / n2, n = max(||x||_2, eps);
    ds/dx1 = (v - s u) / n1 (v / n1 where ||x1|| <= eps), ds/dx2 likewise."""

    def forward(self, x1: np.ndarray, x2: np.ndarray, shape: tuple, axis: int,
                eps: float) -> np.ndarray:
        xp = get_array_module(x1, x2)
        self.shapes = (x1.shape, x2.shape)
        x1, x2 = xp.broadcast_to(x1, shape), xp.broadcast_to(x2, shape)
        r1, r2 = _pnorm(x1, 2.0, axis), _pnorm(x2, 2.0, axis)
        n1, n2 = xp.maximum(r1, eps), xp.maximum(r2, eps)
        u, v = x1 / n1, x2 / n2
        s = xp.sum(u * v, axis=axis, keepdims=True)
        self.u, self.v, self.s, self.n1, self.n2 = u, v, s, n1, n2
        self.free1, self.free2 = r1 >= n1, r2 >= n2
        self.axis = axis
        return xp.squeeze(s, axis=axis)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        g = xp.expand_dims(g, self.axis)
        u, v, s = self.u, self.v, self.s
        d1 = d2 = None
        if self.needs_input_grad[0]:
            d1 = unbroadcast(g * (v - s * u * self.free1) / self.n1, self.shapes[0])
        if self.needs_input_grad[1]:
            d2 = unbroadcast(g * (u - s * v * self.free2) / self.n2, self.shapes[1])
        return d1, d2


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast), each
    divided by ``max(||x||_2, eps)`` first, as PyTorch's F.cosine_similarity.

    Shape: x1, x2 broadcastable, e.g. (N, D) and (N, D) or (1, D); output the broadcast shape
    without ``dim``: (N,).
    """
    op = "cosine_similarity"
    _check_float(op, x1=x1, x2=x2)
    shape = _broadcast(op, x1, x2, ("x1", "x2"))
    if not shape:
        raise ShapeError(f"{op}: expected tensors with at least 1 dimension, got 0-d ones")
    return CosineSimilarity.apply(x1, x2, shape=shape, axis=_axis(op, dim, len(shape)),
                                  eps=float(eps))


# ---- distances between rows and the triplet losses -------------------------------------------


class PairwiseDistance(Function):
    """d = ||x1 - x2 + eps||_p along the last axis;  dd/dx1 = d||v||/dv, dd/dx2 = -d||v||/dv."""

    def forward(self, x1: np.ndarray, x2: np.ndarray, p: float, eps: float,
                keepdim: bool) -> np.ndarray:
        xp = get_array_module(x1, x2)
        v = x1 - x2 + eps
        n = _pnorm(v, p, -1)
        self.v, self.n, self.p, self.shapes = v, n, p, (x1.shape, x2.shape)
        return n if keepdim else xp.squeeze(n, axis=-1)

    def backward(self, g: np.ndarray) -> tuple:
        if g.ndim < self.n.ndim:
            g = get_array_module(g).expand_dims(g, -1)
        dv = g * _pnorm_grad(self.v, self.n, self.p)
        d1 = unbroadcast(dv, self.shapes[0]) if self.needs_input_grad[0] else None
        d2 = unbroadcast(-dv, self.shapes[1]) if self.needs_input_grad[1] else None
        return d1, d2


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm distance between matching rows, ``||x1 - x2 + eps||_p`` over the last axis
    (PyTorch's F.pairwise_distance; ``eps`` keeps the gradient defined for equal rows).

    Shape: x1, x2 broadcastable, (N, D) or (D,); output (N,) (or (N, 1) with keepdim).
    """
    op = "pairwise_distance"
    _check_float(op, x1=x1, x2=x2)
    if not _broadcast(op, x1, x2, ("x1", "x2")):
        raise ShapeError(f"{op}: expected tensors with at least 1 dimension, got 0-d ones")
    return PairwiseDistance.apply(x1, x2, p=_check_p(op, p), eps=float(eps),
                                  keepdim=bool(keepdim))


class TripletMarginLoss(Function):
    """l = max(0, margin + d(a, p) - d(a, n)), d(x, y) = ||x - y + eps||_p;  where l > 0:
    dl/da = d'(a-p) - d'(a-n), dl/dp = -d'(a-p), dl/dn = d'(a-n) (d' = d||v||/dv).
    With ``swap`` the negative distance is min(d(a, n), d(p, n)) and its pair takes d'."""

    def forward(self, a: np.ndarray, p: np.ndarray, n: np.ndarray, margin: float, norm: float,
                eps: float, swap: bool, reduction: str) -> np.ndarray:
        xp = get_array_module(a, p, n)
        v_ap, v_an = a - p + eps, a - n + eps
        d_ap, d_an = _pnorm(v_ap, norm, -1), _pnorm(v_an, norm, -1)
        self.use_pn = None
        if swap:
            v_pn = p - n + eps
            d_pn = _pnorm(v_pn, norm, -1)
            self.use_pn = d_pn < d_an
            self.v_pn, self.d_pn = v_pn, d_pn
            d_an = xp.minimum(d_an, d_pn)
        loss = xp.maximum(margin + d_ap - d_an, 0)
        self.v_ap, self.v_an, self.d_ap, self.d_an = v_ap, v_an, d_ap, d_an
        self.active, self.norm, self.reduction = loss > 0, norm, reduction
        self.denom = loss.size
        return _reduce(xp.squeeze(loss, axis=-1), reduction, self.denom)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        u = _upstream(g, self.reduction, self.denom)
        u = xp.reshape(u, u.shape + (1,)) if u.ndim else u
        u = u * self.active
        g_ap = u * _pnorm_grad(self.v_ap, self.d_ap, self.norm)
        if self.use_pn is None:
            g_an = u * _pnorm_grad(self.v_an, self.d_an, self.norm)
            return g_ap - g_an, -g_ap, g_an
        pn = self.use_pn
        g_an = u * ~pn * _pnorm_grad(self.v_an, self.d_an, self.norm)
        g_pn = u * pn * _pnorm_grad(self.v_pn, self.d_pn, self.norm)
        return g_ap - g_an, -g_ap - g_pn, g_an + g_pn


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` per triplet, with
    ``d = pairwise_distance(., ., p, eps)``; ``swap=True`` takes the smaller of d(a, n) and
    d(p, n) as the negative distance. PyTorch's F.triplet_margin_loss.

    Shape: anchor, positive, negative (N, D) or (D,), all the same; output a scalar, or (N,)
    with ``reduction='none'``.
    """
    op = "triplet_margin_loss"
    _check_float(op, anchor=anchor, positive=positive, negative=negative)
    _check_reduction(op, reduction)
    shapes = [tuple(t.shape) for t in (anchor, positive, negative)]
    if len(set(shapes)) != 1 or len(shapes[0]) not in (1, 2):
        raise ShapeError(f"{op}: expected anchor, positive and negative of the same shape, "
                         f"(N, D) or (D,); got {shapes[0]}, {shapes[1]} and {shapes[2]}")
    return TripletMarginLoss.apply(anchor, positive, negative, margin=float(margin),
                                   norm=_check_p(op, p), eps=float(eps), swap=bool(swap),
                                   reduction=reduction)


class BatchHardTripletLoss(Function):
    """l_i = max(0, margin + d(x_i, x_p(i)) - d(x_i, x_n(i))) (soft: log(1 + e^(d_ip - d_in))),
    p(i) = argmax over positives of d, n(i) = argmin over negatives, d(x, y) = ||x - y||_2;
    dl_i/dx_i = c_i ((x_i - x_p)/d_ip - (x_i - x_n)/d_in), dl_i/dx_p = -c_i (x_i - x_p)/d_ip,
    dl_i/dx_n = c_i (x_i - x_n)/d_in, c_i = [l_i > 0] (soft: sigmoid(d_ip - d_in))."""

    def forward(self, x: np.ndarray, labels: np.ndarray, margin: float | None,
                reduction: str) -> np.ndarray:
        xp = get_array_module(x)
        diff = x[:, None, :] - x[None, :, :]
        d = xp.sqrt(xp.sum(diff * diff, axis=-1))  # (N, N), exact (no Gram-matrix cancellation)
        same = labels[:, None] == labels[None, :]
        pos = same & ~xp.eye(len(x), dtype=bool)
        valid = pos.any(axis=1) & (~same).any(axis=1)  # anchors with a positive and a negative
        ip = xp.argmax(xp.where(pos, d, -xp.inf), axis=1)
        ineg = xp.argmin(xp.where(same, xp.inf, d), axis=1)
        rows = xp.arange(len(x))
        d_ip, d_in = d[rows, ip], d[rows, ineg]
        z = d_ip - d_in
        if margin is None:  # soft margin: softplus(z), stable for large |z|
            loss = xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))
            coef = 1 / (1 + xp.exp(-z))
        else:
            loss = xp.maximum(margin + z, 0)
            coef = (loss > 0).astype(x.dtype)
        loss = loss * valid
        self.denom = int(valid.sum())
        self.reduction = reduction
        self.x, self.ip, self.ineg = x, ip, ineg
        self.coef = coef * valid
        self.d_ip, self.d_in = d_ip, d_in
        return _reduce(loss.astype(x.dtype), reduction, self.denom)

    def backward(self, g: np.ndarray) -> tuple:
        xp = get_array_module(g)
        c = _upstream(g, self.reduction, self.denom) * self.coef
        x, ip, ineg = self.x, self.ip, self.ineg
        u_p = (x - x[ip]) / xp.where(self.d_ip == 0, 1, self.d_ip)[:, None]
        u_n = (x - x[ineg]) / xp.where(self.d_in == 0, 1, self.d_in)[:, None]
        c = c[:, None]
        dx = c * (u_p - u_n)
        backend.scatter_add(dx, ip, -c * u_p)
        backend.scatter_add(dx, ineg, c * u_n)
        return dx, None


def batch_hard_triplet_loss(embeddings: Tensor, labels: Any, margin: float | None = 0.2,
                            reduction: str = "mean") -> Tensor:
    """The batch-hard triplet loss of Hermans et al. (2017): each photo of the batch is an
    anchor, paired with the farthest photo of the same identity and the nearest photo of
    another identity (Euclidean distances), ``max(0, margin + d_pos - d_neg)``;
    ``margin=None`` is their soft margin ``log(1 + exp(d_pos - d_neg))``. Anchors without a
    positive or without a negative in the batch are left out (and out of the mean).

    Sample batches of P identities x K photos each (K >= 2) so every anchor has positives.

    Shape: embeddings (N, D); labels (N,) integer identities; output a scalar, or (N,) with
    ``reduction='none'`` (0 for left-out anchors).
    """
    op = "batch_hard_triplet_loss"
    _check_float(op, embeddings=embeddings)
    _check_reduction(op, reduction)
    y = labels.data if isinstance(labels, Tensor) else labels
    xp = get_array_module(embeddings.data)
    y = xp.asarray(y)
    if embeddings.ndim != 2 or y.shape != (embeddings.shape[0],) or y.dtype.kind not in "iub":
        raise ShapeError(f"{op}: expected embeddings (N, D) and integer labels (N,), got "
                         f"embeddings {tuple(embeddings.shape)} and labels {tuple(y.shape)} of "
                         f"dtype {y.dtype}")
    if margin is not None and margin < 0:
        raise ValueError(f"{op}: margin must be >= 0 (or None for the soft margin), got {margin}")
    return BatchHardTripletLoss.apply(embeddings, y, margin=None if margin is None
                                      else float(margin), reduction=reduction)


class AdditiveAngularMargin(Function):
    """y_ij = s cos(theta_ij + m) for j = target_i (theta = arccos c), s c_ij otherwise;
    dy/dc = s (cos m + sin m * c / sin theta) at the targets, s elsewhere. Where theta + m
    would pass pi, y = s (c - m sin m) (ArcFace's fallback, keeping y decreasing in theta)."""

    def forward(self, c: np.ndarray, target: np.ndarray, margin: float,
                scale: float) -> np.ndarray:
        xp = get_array_module(c)
        rows = xp.arange(len(c))
        ct = xp.clip(c[rows, target], -1.0, 1.0)
        sin = xp.sqrt(xp.maximum(1.0 - ct * ct, 1e-12))
        cos_m, sin_m = math.cos(margin), math.sin(margin)
        wrap = ct <= math.cos(math.pi - margin)  # theta + m > pi
        y = c * scale
        y[rows, target] = scale * xp.where(wrap, ct - margin * sin_m, ct * cos_m - sin * sin_m)
        self.rows, self.target, self.scale = rows, target, scale
        self.dt = scale * xp.where(wrap, 1.0, cos_m + sin_m * ct / sin)
        return y

    def backward(self, g: np.ndarray) -> tuple:
        dc = g * self.scale
        dc[self.rows, self.target] = g[self.rows, self.target] * self.dt
        return dc, None


def additive_angular_margin(cosine: Tensor, target: Any, margin: float = 0.5,
                            scale: float = 64.0) -> Tensor:
    """ArcFace's logits from the cosines between N normalised embeddings and C normalised
    class centres: ``scale * cos(theta + margin)`` for each row's target class, ``scale *
    cos(theta)`` for the others. Feed them to ``F.cross_entropy(logits, target)``.

    Shape: cosine (N, C) in [-1, 1] (``F.normalize(e) @ F.normalize(W).T``); target (N,)
    integer classes in [0, C); output (N, C).
    """
    op = "additive_angular_margin"
    _check_float(op, cosine=cosine)
    y = target.data if isinstance(target, Tensor) else target
    xp = get_array_module(cosine.data)
    y = xp.asarray(y)
    if cosine.ndim != 2 or y.shape != (cosine.shape[0],) or y.dtype.kind not in "iu":
        raise ShapeError(f"{op}: expected cosine (N, C) and integer target (N,), got cosine "
                         f"{tuple(cosine.shape)} and target {tuple(y.shape)} of dtype {y.dtype}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= cosine.shape[1]):
        raise IndexError(f"{op}: target holds class {int(y.max())} or {int(y.min())}, but there "
                         f"are {cosine.shape[1]} classes (0..{cosine.shape[1] - 1})")
    if not 0 <= margin < math.pi / 2:
        raise ValueError(f"{op}: margin must be an angle in [0, pi/2) radians, got {margin}")
    return AdditiveAngularMargin.apply(cosine, y, margin=float(margin), scale=float(scale))
