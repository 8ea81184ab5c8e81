"""Loss layers: each holds its options (and class weights as buffers) and calls one op of
``nn.functional``. ``reduction``: ``'mean'`` (default), ``'sum'`` or ``'none'`` (per element).

Call as ``loss_fn(input, target)``: the prediction first, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_default_dtype
from ..tensor import Tensor, as_tensor
from . import functional as F
from . import init as _init
from .module import Module
from .parameter import Parameter

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
           "BCELoss", "BCEWithLogitsLoss"]
__all__ += ["TripletMarginLoss", "ArcFaceLoss"]
__all__ += ["CTCLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", None if weight is None else as_tensor(weight))


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy from raw scores (logits) and class indices (or class
    probabilities): ``-log softmax(x)[target]``, one fused op (its gradient is
    ``softmax(x) - onehot(target)``).

    ``weight`` (C,): a rescaling per class; ``ignore_index``: targets with this value add nothing
    (and are left out of the mean); ``label_smoothing``: mix the one-hot target with the uniform
    distribution.

    Shape:
        Input: (N, C) or (N, C, d1, ...) logits, or (C,).
        Target: (N,) or (N, d1, ...) int64 class indices in [0, C), or the input's shape of
        probabilities.
        Output: a scalar, or (N, d1, ...) with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> loss = nn.CrossEntropyLoss()(dw.zeros(4, 10), dw.tensor([1, 0, 4, 9]))
    >>> round(loss.item(), 4)  # log(10)
    2.3026
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: ``-input[n, target[n]]`` (use after
    LogSoftmax; CrossEntropyLoss is both in one).

    Shape:
        Input: (N, C) or (N, C, d1, ...) log-probabilities.
        Target: (N,) or (N, d1, ...) int64 class indices.
        Output: a scalar, or (N, d1, ...) with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.NLLLoss()(dw.tensor([[-1.0, -2.0]]), dw.tensor([1])).item()
    2.0
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(input - target)^2``.

    Shape: input and target the same shape (any); output a scalar, or that shape with
    ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.MSELoss()(dw.tensor([1.0, 3.0]), dw.tensor([0.0, 0.0])).item()
    5.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``.

    Shape: input and target the same shape (any); output a scalar, or that shape with
    ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.L1Loss()(dw.tensor([1.0, -3.0]), dw.tensor([0.0, 0.0])).item()
    2.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Girshick (2015): ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``
    (``d = input - target``): quadratic near 0, linear (robust to outliers) far away.

    Shape: input and target the same shape (any); output a scalar, or that shape with
    ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.SmoothL1Loss()(dw.tensor([0.5, 3.0]), dw.tensor([0.0, 0.0])).item()
    1.3125
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber (1964): ``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``
    (SmoothL1Loss times ``delta``).

    Shape: input and target the same shape (any); output a scalar, or that shape with
    ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.HuberLoss(delta=2.0)(dw.tensor([3.0]), dw.tensor([0.0])).item()
    4.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: ``-(t log p + (1 - t) log(1 - p))`` (logs clamped
    at -100, as PyTorch). Prefer BCEWithLogitsLoss on raw scores: it is stabler.

    Shape: input (probabilities in [0, 1]) and target the same shape (any); ``weight``
    broadcasts to it; output a scalar, or that shape with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> round(nn.BCELoss()(dw.tensor([0.5]), dw.tensor([1.0])).item(), 4)  # log 2
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Sigmoid + binary cross-entropy in one stable op, on raw scores ``x``:
    ``-(pos_weight t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))``.

    ``pos_weight`` (C,): the weight of positive examples per class (> 1 raises recall).

    Shape: input (logits) and target the same shape (any), e.g. (N, C); output a scalar, or that
    shape with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> round(nn.BCEWithLogitsLoss()(dw.zeros(3), dw.ones(3)).item(), 4)  # log 2
    0.6931
    """

    def __init__(self, weight: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else as_tensor(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class TripletMarginLoss(_Loss):
    """The triplet loss ``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with
    ``d`` the p-norm distance ``||x - y + eps||_p`` (Schroff et al., FaceNet, 2015): it pulls
    an anchor towards a sample of the same identity and pushes it from one of another, until
    they are ``margin`` apart. ``swap=True`` also measures the negative from the positive and
    takes the nearer (Balntas et al., 2016).

    Shape: anchor, positive, negative (N, D) or (D,); output a scalar, or (N,) with
    ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> a, p, n = dw.tensor([[0.0, 0.0]]), dw.tensor([[0.0, 1.0]]), dw.tensor([[0.0, 1.5]])
    >>> round(nn.TripletMarginLoss(margin=1.0)(a, p, n).item(), 4)
    0.5
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, p={self.p}, swap={self.swap}"


class CTCLoss(_Loss):
    """Connectionist Temporal Classification (Graves et al., 2006): ``-log p(target | input)``
    summed over every frame-wise alignment of the target (repeats merged, blanks dropped), one
    forward-backward op (``deepwise.ops.ctc``). PyTorch's signature.

    ``blank``: the blank's class id; ``reduction='mean'`` divides each loss by its target length
    and averages over the batch; ``zero_infinity``: an impossible alignment gives 0, not inf.

    Shape:
        Log_probs: (T, N, C) log_softmax outputs, or (T, C).
        Targets: (N, S) padded, or 1-D concatenated (sum(target_lengths)).
        Input_lengths, Target_lengths: (N,).
        Output: a scalar, or (N,) with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> lp = dw.full((3, 1, 2), -0.6931471805599453)  # blank or "1", each 1/2, for 3 frames
    >>> round(nn.CTCLoss(reduction="sum")(lp, [[1]], [3], [1]).item(), 4)  # -log(6/8)
    0.2877
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
                 ) -> None:
        super().__init__(reduction)
        self.blank, self.zero_infinity = int(blank), bool(zero_infinity)

    def forward(self, log_probs: Tensor, targets: Any, input_lengths: Any,
                target_lengths: Any) -> Tensor:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                          reduction=self.reduction, zero_infinity=self.zero_infinity)

    def extra_repr(self) -> str:
        return f"blank={self.blank}, zero_infinity={self.zero_infinity}"


__all__ += ["KLDivLoss"]


class KLDivLoss(Module):
    """The Kullback-Leibler divergence ``sum t (log t - x)`` between a target distribution and
    the log-probabilities ``x`` (``F.kl_div``, ``deepwise.ops.vae``); PyTorch's signature.

    ``reduction``: 'mean' (over elements, PyTorch's default), 'batchmean' (sum / batch size:
    the KL per sample), 'sum' or 'none'; ``log_target``: the target is log-probabilities.

    Shape:
        Input: any shape of log-probabilities. Target: the same shape.
        Output: a scalar, or the input's shape with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> round(nn.KLDivLoss(reduction="sum")(dw.tensor([0.5, 0.5]).log(),
    ...                                      dw.tensor([1.0, 0.0])).item(), 4)  # log 2
    0.6931
    """

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("KLDivLoss: size_average and reduce are deprecated; pass reduction=")
        if reduction not in ("mean", "batchmean", "sum", "none"):
            raise ValueError(f"KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or "
                             f"'none', got {reduction!r}")
        self.reduction, self.log_target = reduction, bool(log_target)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class ArcFaceLoss(_Loss):
    """ArcFace (Deng et al., 2019): a softmax over learned class centres on the unit sphere in
    which each embedding must beat the other classes by an *angle* ``margin``: the logit of
    its own class is ``scale * cos(theta + margin)``, the others ``scale * cos(theta)``
    (``F.additive_angular_margin``), then cross-entropy. The centres (``weight``, one row per
    class, Xavier-uniform) are this loss's parameters: give them to the optimizer too.

    Shape: input (N, embedding_dim) embeddings (normalised here); target (N,) classes in
    [0, num_classes); output a scalar, or (N,) with ``reduction='none'``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> loss_fn = nn.ArcFaceLoss(num_classes=10, embedding_dim=4)
    >>> loss_fn(dw.randn(3, 4), dw.tensor([0, 5, 9])).shape
    ()
    """

    def __init__(self, num_classes: int, embedding_dim: int, margin: float = 0.5,
                 scale: float = 64.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.num_classes, self.embedding_dim = int(num_classes), int(embedding_dim)
        self.margin, self.scale = float(margin), float(scale)
        self.weight = Parameter(np.empty((self.num_classes, self.embedding_dim),
                                         get_default_dtype()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init.xavier_uniform_(self.weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        cosine = F.linear(F.normalize(input, dim=1), F.normalize(self.weight, dim=1))
        logits = F.additive_angular_margin(cosine, target, margin=self.margin, scale=self.scale)
        return F.cross_entropy(logits, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
                f"margin={self.margin}, scale={self.scale}")
