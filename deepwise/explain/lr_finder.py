"""The learning-rate range test (Leslie Smith, 2015; fastai's ``lr_find``).

Train for ``num_iter`` mini-batches while the learning rate grows geometrically from ``start_lr``
to ``end_lr``, and record the (smoothed) loss at each. Too small a rate: the loss barely moves.
Too large: it blows up. In between the loss falls fastest - the suggested learning rate is where
the loss curve, plotted against log(lr), is steepest downhill. The model and the optimizer are
restored afterwards, so the test costs nothing but time.

>>> lrs, losses, lr = explain.lr_find(model, loader, nn.CrossEntropyLoss(),
...                                   optim.SGD(model.parameters(), lr=0.1))   # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, as_tensor
from ._common import figure, fmt, save_figure

__all__ = ["lr_find", "LRFindResult"]


class LRFindResult(NamedTuple):
    """``(lrs, losses, suggested_lr)``; ``plot(path)`` draws loss against learning rate."""

    lrs: np.ndarray
    losses: np.ndarray
    suggested_lr: float

    def plot(self, path: str | os.PathLike | None = None) -> Any:
        """Loss (smoothed) against learning rate on a log axis, the suggestion marked."""
        fig = figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.semilogx(self.lrs, self.losses, "-", color="#1f77b4")
        if np.isfinite(self.suggested_lr):
            k = int(np.argmin(np.abs(self.lrs - self.suggested_lr)))
            ax.plot([self.lrs[k]], [self.losses[k]], "o", color="#d62728",
                    label=f"suggested lr {fmt(self.suggested_lr)} (steepest descent)")
            ax.legend()
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss (smoothed)")
        ax.set_title("learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path)
        return fig


def _loss_fn(loss: Any) -> Callable[[Any, Any], Tensor]:
    if isinstance(loss, str):
        from ..nn import functional
        fn = getattr(functional, loss, None)
        if fn is None:
            raise ValueError(f"lr_find: unknown loss {loss!r} (a function of nn.functional by "
                             "name, or a loss module such as nn.CrossEntropyLoss())")
        return fn
    if not callable(loss):
        raise TypeError(f"lr_find: loss must be callable, got {type(loss).__name__}")
    return loss


def _batches(data: Any) -> Iterator[tuple[tuple[Tensor, ...], Tensor]]:
    """Batches for ever: a DataLoader/list is iterated again when it runs out."""
    if isinstance(data, tuple) and len(data) == 2 and all(
            isinstance(d, (Tensor, np.ndarray)) for d in data):
        data = [data]
    while True:
        n = 0
        for x, y in data:
            n += 1
            xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
            xs = tuple(v if isinstance(v, Tensor) else as_tensor(v) for v in xs)
            yield xs, (y if isinstance(y, Tensor) else as_tensor(y))
        if n == 0:
            raise ValueError("lr_find: the data yielded no batches (a used-up generator? pass a "
                             "DataLoader or a list)")


def _suggest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The lr where d(loss)/d(log lr) is most negative, before the loss's minimum."""
    n = len(lrs)
    if n < 3:
        return math.nan
    stop = int(np.argmin(losses)) + 1
    lo = min(n // 10, max(stop - 3, 0))
    if stop - lo < 3:
        return float(lrs[max(stop - 1, 0)] / 10)
    slope = np.gradient(losses[lo:stop], np.log10(lrs[lo:stop]))
    return float(lrs[lo + int(np.argmin(slope))])


def lr_find(model: Any, data: Any, loss: Any, optimizer: Any, start_lr: float = 1e-7,
            end_lr: float = 10, num_iter: int = 100, *, beta: float = 0.98,
            diverge: float = 4.0, plot: str | os.PathLike | None = None) -> LRFindResult:
    """Run the learning-rate range test; return ``(lrs, losses, suggested_lr)``.

    Args:
        model, optimizer: trained in place for up to ``num_iter`` steps, then restored (the
            model's state dict and train/eval mode, the optimizer's state dict and options).
        data: a DataLoader or an iterable of (x, y) batches (cycled if shorter than num_iter).
        loss: ``loss(output, y) -> scalar``: an nn loss module, a function, or its name.
        start_lr, end_lr, num_iter: the geometric sweep (every parameter group gets the same lr).
        beta: the loss is smoothed by an exponential moving average (bias-corrected).
        diverge: stop early once the smoothed loss exceeds ``diverge`` x its best (or NaN).
        plot: a file to save the loss-vs-lr picture to (needs matplotlib).
    """
    if not (0 < start_lr < end_lr):
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 2:
        raise ValueError(f"lr_find: num_iter must be >= 2, got {num_iter}")
    loss_fn = _loss_fn(loss)
    model_state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    was_training = model.training
    schedule = start_lr * (end_lr / start_lr) ** (np.arange(num_iter) / (num_iter - 1))
    lrs, losses = [], []
    avg, best = 0.0, math.inf
    batches = _batches(data)
    model.train()
    try:
        for i, lr in enumerate(schedule):
            for group in optimizer.param_groups:
                group["lr"] = float(lr)
            xs, y = next(batches)
            optimizer.zero_grad()
            value = loss_fn(model(*xs), y)
            value.backward()
            optimizer.step()
            v = float(value.data)
            if not math.isfinite(v):
                break
            avg = beta * avg + (1 - beta) * v
            smoothed = avg / (1 - beta ** (i + 1))
            lrs.append(float(lr))
            losses.append(smoothed)
            best = min(best, smoothed)
            if i > 0 and smoothed > diverge * best:
                break
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
        optimizer.zero_grad()
    lrs_a, losses_a = np.array(lrs), np.array(losses)
    result = LRFindResult(lrs_a, losses_a, _suggest(lrs_a, losses_a))
    if plot is not None:
        result.plot(plot)
    return result
