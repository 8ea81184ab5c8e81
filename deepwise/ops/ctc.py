"""Connectionist Temporal Classification (Graves et al., 2006): the loss that lets a network be
trained on speech with only the *words* as targets - no frame-by-frame alignment - and its
decoders.

The network emits, at every frame t, log-probabilities over the C labels plus a "blank" (no
label). A *path* is one label per frame; collapsing it (merge repeats, then drop blanks) gives a
label string: ``-11--2-`` -> ``12``. CTC's probability of the target ``y`` is the sum over every
path that collapses to it, and the loss is ``-log p(y | x)``.

The sum over exponentially many paths is a dynamic programme on the *extended* target
``l' = (blank, y1, blank, y2, ..., blank)`` of length ``L = 2S + 1``:

* forward: ``alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1),
  alpha_{t-1}(s-2))`` - the last term only if ``l'_s`` is a label different from ``l'_{s-2}``
  (a blank between two equal labels cannot be skipped: ``11`` needs ``1-1``);
  ``log p = logsumexp(alpha_{T-1}(L-1), alpha_{T-1}(L-2))``;
* backward: ``beta_t(s)`` the same recursion run from the end (both include ``lp_t(l'_s)``);
* gradient: ``gamma_t(s) = exp(alpha_t(s) + beta_t(s) - lp_t(l'_s) - log p)`` is the posterior
  probability that frame t is at position s, and ``dL/dlp_t(c) = -sum_{s: l'_s = c} gamma_t(s)``.

All of it in log space (the probabilities underflow float32 after a few dozen frames), vectorised
over the batch and the L positions; the only loop is over time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, ShapeError
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["ctc_loss", "ctc_greedy_decode", "ctc_beam_search", "edit_distance"]

TENSOR_METHODS: tuple[str, ...] = ()

_NEG_INF = -np.inf


def _lse3(a: Any, b: Any, c: Any, xp: Any) -> Any:
    """log(e^a + e^b + e^c), -inf safe."""
    return xp.logaddexp(xp.logaddexp(a, b), c)


def _shift(a: Any, k: int, xp: Any) -> Any:
    """``a[..., s - k]`` along the last axis, -inf where ``s < k``."""
    out = xp.full_like(a, _NEG_INF)
    out[..., k:] = a[..., :-k]
    return out


class CTCLoss(Function):
    """CTC negative log-likelihood of padded targets (see the module docstring for the recursion).

    ``dL/dlp[t, n, c] = -g_n * sum_{s: l'_s = c} gamma_t(s)`` for ``t < T_n`` (0 after), with
    ``g_n`` the upstream gradient of sequence n's loss (``1 / (N max(S_n, 1))`` for ``'mean'``).

    This is the true gradient with respect to ``log_probs``. PyTorch's ``ctc_loss`` reports
    ``exp(lp) - gamma`` instead (the gradient *through* a log_softmax folded in); after a
    ``log_softmax`` - how CTC is always fed - both give the same gradient for the logits,
    because the extra ``exp(lp)`` sums to one per frame and log_softmax's backward removes it.

    Shapes: log_probs (T, N, C); targets (N, S) padded int; input_lengths, target_lengths (N,).
    """

    def forward(self, lp: Any, targets: Any, input_lengths: Any, target_lengths: Any,
                blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Any:
        xp = backend.get_array_module(lp)
        t_max, n, _ = lp.shape
        s_max = targets.shape[1]
        big_l = 2 * s_max + 1
        ext = xp.full((n, big_l), blank, dtype=np.int64)
        ext[:, 1::2] = targets
        s_idx = xp.arange(big_l)
        valid = s_idx[None, :] < (2 * target_lengths + 1)[:, None]         # (N, L)
        skip = xp.zeros((n, big_l), dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        lpe = lp[:, xp.arange(n)[:, None], ext]                             # (T, N, L)
        lpe = xp.where(valid[None], lpe, _NEG_INF)
        # forward variables
        alpha = xp.full((t_max, n, big_l), _NEG_INF, dtype=lp.dtype)
        if t_max:
            alpha[0, :, :2] = lpe[0, :, :2]
        for t in range(1, t_max):
            a = alpha[t - 1]
            a2 = xp.where(skip, _shift(a, 2, xp), _NEG_INF)
            alpha[t] = _lse3(a, _shift(a, 1, xp), a2, xp) + lpe[t]
        # log p(y | x): the last label or the final blank, at each sequence's own last frame
        rows = xp.arange(n)
        last_t = xp.maximum(input_lengths - 1, 0)
        end = 2 * target_lengths
        a_end = alpha[last_t, rows]                                          # (N, L)
        log_p = xp.logaddexp(a_end[rows, end],
                             xp.where(target_lengths > 0, a_end[rows, xp.maximum(end - 1, 0)],
                                      _NEG_INF))
        log_p = xp.where(input_lengths > 0, log_p,
                         xp.where(target_lengths == 0, 0.0, _NEG_INF)).astype(lp.dtype)
        nll = -log_p
        inf = ~xp.isfinite(nll)
        self.saved = (alpha, lpe, ext, skip, valid, nll, inf, input_lengths, target_lengths,
                      lp.shape, blank, reduction, zero_infinity)
        loss = xp.where(inf, 0.0, nll).astype(lp.dtype) if zero_infinity else nll
        if reduction == "none":
            return loss
        if reduction == "sum":
            return xp.asarray(loss.sum(), dtype=lp.dtype)
        return xp.asarray((loss / xp.maximum(target_lengths, 1)).mean(), dtype=lp.dtype)

    def backward(self, g: Any) -> tuple:
        (alpha, lpe, ext, skip, valid, nll, inf, in_len, tgt_len, shape, _, reduction,
         zero_inf) = self.saved
        xp = backend.get_array_module(alpha)
        t_max, n, c = shape
        big_l = ext.shape[1]
        rows = xp.arange(n)
        beta = xp.full_like(alpha, _NEG_INF)
        end = 2 * tgt_len
        init = xp.full((n, big_l), _NEG_INF, dtype=alpha.dtype)
        for t in range(t_max - 1, -1, -1):
            init.fill(_NEG_INF)
            init[rows, end] = lpe[t, rows, end]
            has = tgt_len > 0
            init[rows[has], end[has] - 1] = lpe[t, rows[has], end[has] - 1]
            if t + 1 < t_max:
                b = beta[t + 1]
                b2 = xp.full_like(b, _NEG_INF)
                b2[:, :-2] = xp.where(skip[:, 2:], b[:, 2:], _NEG_INF)
                b1 = xp.full_like(b, _NEG_INF)
                b1[:, :-1] = b[:, 1:]
                rec = _lse3(b, b1, b2, xp) + lpe[t]
            else:
                rec = init
            last = (t == in_len - 1)[:, None]
            beta[t] = xp.where(last, init, xp.where((t < in_len - 1)[:, None], rec, _NEG_INF))
        finite_nll = xp.where(inf, 0.0, nll)
        with np.errstate(invalid="ignore", over="ignore"):
            gamma = xp.exp(alpha + beta - lpe + finite_nll[None, :, None])  # (T, N, L)
        gamma = xp.where(valid[None], gamma, 0.0)
        onehot = (ext[:, :, None] == xp.arange(c)[None, None, :]).astype(alpha.dtype)
        grad = -xp.matmul(gamma.transpose(1, 0, 2), onehot).transpose(1, 0, 2)  # (T, N, C)
        if reduction == "none":
            scale = g
        elif reduction == "sum":
            scale = xp.full(n, g, dtype=alpha.dtype)
        else:
            scale = g / (n * xp.maximum(tgt_len, 1)).astype(alpha.dtype)
        scale = xp.where(inf, 0.0 if zero_inf else np.nan, scale)
        inside = (xp.arange(t_max)[:, None] < in_len[None, :])[:, :, None]
        grad = xp.where(inside, grad * scale[None, :, None], 0.0)
        return grad.astype(alpha.dtype), None, None, None


def _int_array(x: Any, what: str, op: str) -> np.ndarray:
    """Targets and lengths as a host int64 array (checked on the host; see ctc_loss)."""
    a = np.asarray(backend.to_numpy(x.data) if isinstance(x, Tensor) else backend.to_numpy(x))
    if a.dtype.kind not in "iu" and a.size:
        raise TypeError(f"{op}: {what} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def ctc_loss(log_probs: Tensor, targets: Any, input_lengths: Any, target_lengths: Any,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss, PyTorch's signature (``torch.nn.functional.ctc_loss``).

    Args:
        log_probs: (T, N, C) log-probabilities (``log_softmax`` over C), or (T, C) unbatched.
        targets: (N, S) padded label ids, or 1-D: all targets concatenated (sum of
            target_lengths); labels in [0, C) and never ``blank``.
        input_lengths: (N,) frames of each sequence (<= T).
        target_lengths: (N,) labels of each target.
        blank: the blank's id.
        reduction: ``'mean'`` (each loss divided by its target length, then averaged over the
            batch, as PyTorch), ``'sum'`` or ``'none'`` (N,).
        zero_infinity: impossible alignments (input shorter than the target needs) give loss
            and gradient 0 instead of inf (and a NaN gradient).

    >>> import math
    >>> import deepwise as dw
    >>> lp = dw.full((3, 1, 2), -0.6931471805599453)  # blank or "1", each 1/2, for 3 frames
    >>> p = 6 / 8     # 6 of the 8 paths collapse to "1": 1--, -1-, --1, 11-, -11, 111
    >>> round(ctc_loss(lp, [[1]], [3], [1], reduction="sum").item(), 4) == round(-math.log(p), 4)
    True
    """
    xp = np  # the labels and lengths are checked and padded on the host, then moved once
    op = "ctc_loss"
    if not isinstance(log_probs, Tensor) or log_probs.dtype.kind != "f":
        raise TypeError(f"{op}: log_probs must be a floating-point Tensor (T, N, C), got "
                        f"{type(log_probs).__name__}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    unbatched = log_probs.ndim == 2
    if log_probs.ndim not in (2, 3):
        raise ShapeError(f"{op}: log_probs must be (T, N, C) or (T, C), got shape "
                         f"{tuple(log_probs.shape)}")
    tg = _int_array(targets, "targets", op)
    il = _int_array(input_lengths, "input_lengths", op).reshape(-1)
    tl = _int_array(target_lengths, "target_lengths", op).reshape(-1)
    if unbatched:
        from .shape import unsqueeze

        log_probs = unsqueeze(log_probs, 1)
        tg = tg.reshape(1, -1)
    t_max, n, c = log_probs.shape
    if il.shape != (n,) or tl.shape != (n,):
        raise ShapeError(f"{op}: input_lengths and target_lengths must have one entry per "
                         f"sequence (N={n}), got shapes {il.shape} and {tl.shape}")
    if n and (il.min() < 0 or il.max() > t_max):
        raise ValueError(f"{op}: input_lengths must lie in [0, T={t_max}], got {il.tolist()}")
    if n and tl.min() < 0:
        raise ValueError(f"{op}: target_lengths must be >= 0, got {tl.tolist()}")
    if not 0 <= blank < c:
        raise ValueError(f"{op}: blank={blank} is not a class of log_probs (C={c})")
    if tg.ndim == 1 and not unbatched:
        if tg.size != tl.sum():
            raise ShapeError(f"{op}: concatenated targets have {tg.size} labels but "
                             f"target_lengths sum to {int(tl.sum())}")
        padded = xp.full((n, int(tl.max()) if n else 0), blank, np.int64)
        pos = xp.arange(padded.shape[1])[None, :] < tl[:, None]
        padded[pos] = tg
        tg = padded
    elif tg.ndim != 2 or tg.shape[0] != n or (n and tg.shape[1] < tl.max()):
        raise ShapeError(f"{op}: targets must be (N={n}, S >= max target length "
                         f"{int(tl.max()) if n else 0}) padded, or 1-D concatenated; got shape "
                         f"{tg.shape}")
    tg = tg[:, :int(tl.max()) if n else 0]
    used = xp.arange(tg.shape[1])[None, :] < tl[:, None]
    if used.any():
        lab = tg[used]
        if lab.min() < 0 or lab.max() >= c or (lab == blank).any():
            raise ValueError(f"{op}: target labels must lie in [0, C={c}) and differ from "
                             f"blank={blank}; got labels {sorted(set(lab.tolist()))[:10]}")
    tg = xp.where(used, tg, blank)
    tg, il, tl = (backend.on_device_of(a, log_probs.data) for a in (tg, il, tl))
    out = CTCLoss.apply(log_probs, tg, il, tl, blank=int(blank), reduction=reduction,
                        zero_infinity=bool(zero_infinity))
    if unbatched and reduction == "none":
        from .shape import squeeze

        out = squeeze(out, 0)
    return out


# --------------------------------------------------------------------------------------------
# decoding and scoring (not differentiable: arrays in, label lists out)


def _array(x: Any) -> np.ndarray:
    xp = get_array_module(x)
    return xp.asarray(x.data if isinstance(x, Tensor) else x)


def ctc_greedy_decode(log_probs: Any, input_lengths: Any = None, blank: int = 0
                      ) -> list[list[int]]:
    """Best path decoding: the most likely label at each frame, repeats merged, blanks dropped.

    ``log_probs`` (T, N, C) (or (T, C): one sequence); returns one label list per sequence.
    """
    xp = get_array_module(log_probs)
    lp = _array(log_probs)
    lp = lp[:, None] if lp.ndim == 2 else lp
    t_max, n, _ = lp.shape
    lens = xp.full(n, t_max) if input_lengths is None else _array(input_lengths).reshape(-1)
    best = lp.argmax(-1)                                   # (T, N)
    out = []
    for i in range(n):
        path = best[:lens[i], i]
        keep = xp.ones(path.shape, bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([int(k) for k in path[keep & (path != blank)]])
    return out


def _lae(a: float, b: float) -> float:
    """log(e^a + e^b) on Python floats (a NumPy ufunc call per scalar costs more than this)."""
    if a < b:
        a, b = b, a
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def ctc_beam_search(log_probs: Any, beam_width: int = 8, blank: int = 0,
                    length: int | None = None, prune: float = 1e-4) -> tuple[list[int], float]:
    """Prefix beam search (Hannun et al., 2014) on one sequence's (T, C) log-probabilities:
    ``(labels, log p)`` of the most probable *label string*, summing over the paths of each
    prefix (greedy decoding follows one path only). Each prefix keeps two scores: ending in a
    blank (``pb``) and ending in its last label (``pnb``); a repeated label extends the prefix
    only after a blank. At each frame only labels of probability >= ``prune`` extend a prefix
    (0: all)."""
    lp = _array(log_probs).astype(np.float64)
    if lp.ndim != 2:
        raise ShapeError(f"ctc_beam_search: log_probs must be (T, C) for one sequence, got shape "
                         f"{lp.shape}")
    lp = lp[:length] if length is not None else lp
    cut = math.log(prune) if prune > 0 else _NEG_INF
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for t in range(lp.shape[0]):
        row = lp[t].tolist()
        labels = [c for c in range(len(row)) if c != blank and row[c] >= cut]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _lae(pb, pnb)
            cur = nxt.setdefault(prefix, [_NEG_INF, _NEG_INF])
            cur[0] = _lae(cur[0], total + row[blank])            # a blank: the prefix stays
            last = prefix[-1] if prefix else None
            for c in labels:
                if c == last:
                    cur = nxt.setdefault(prefix, [_NEG_INF, _NEG_INF])
                    cur[1] = _lae(cur[1], pnb + row[c])           # a repeat, merged
                    ext, p = prefix + (c,), pb + row[c]           # after a blank: a new label
                else:
                    ext, p = prefix + (c,), total + row[c]
                cur = nxt.setdefault(ext, [_NEG_INF, _NEG_INF])
                cur[1] = _lae(cur[1], p)
        ranked = sorted(nxt.items(), key=lambda kv: -_lae(*kv[1]))[:beam_width]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    best, (pb, pnb) = max(beams.items(), key=lambda kv: _lae(*kv[1]))
    return list(best), _lae(pb, pnb)


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning ``a``
    into ``b`` (one row of the dynamic programme at a time)."""
    xp = get_array_module(a, b)
    prev = xp.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        cur = xp.empty_like(prev)
        cur[0] = i
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return int(prev[-1])
