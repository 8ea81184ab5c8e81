"""The training loop as a product (Keras's ``fit``), written out so every step can be read.

One epoch of ``fit``::

    model.train()
    for x, y in train_data:
        optimizer.zero_grad()      # forget the last batch's gradients
        out = model(x)             # forward: build the graph
        l = loss(out, y)           # a scalar tensor
        l.backward()               # backward: dL/dparameter for every parameter
        optimizer.step()           # update the parameters in place
    with no_grad(): model.eval(); evaluate on val_data

Around those lines sit the metrics (accumulated over the epoch, see ``train.metrics``), the
callbacks (``train.callbacks``: early stopping, checkpoints, progress, CSV log, LR schedules)
and the History that ``fit`` returns.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor, as_tensor
from .callbacks import Callback, CallbackList, LRScheduler, ProgressBar
from .metrics import Accuracy, Metric, get_metric

__all__ = ["fit", "evaluate", "History"]

DEFAULT_METRICS = ("accuracy",)
_REGRESSION_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")
_REGRESSION_FUNCTIONS = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


class History(Callback):
    """What ``fit`` returns: ``history.history`` is a dict of lists with one value per epoch,
    as in Keras - ``loss``, each metric (``accuracy`` ...), ``val_loss``, ``val_<metric>``,
    ``lr`` (the learning rate of the first parameter group when the epoch began) and ``time``
    (seconds the epoch took). ``history.epoch`` lists the epoch numbers (from 0).

    ``History(checkpoint["history"])`` starts from a saved history: pass it in ``callbacks``
    when resuming and the run's history continues where it stopped.

    Example::

        h = fit(model, loader, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=3)
        h.history["loss"]        # [0.69, 0.41, 0.27]
    """

    _own = ("history",)

    def __init__(self, history: dict[str, list[Any]] | None = None) -> None:
        self.history: dict[str, list[Any]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(range(max(map(len, self.history.values()), default=0)))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key: str) -> list[Any]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# --------------------------------------------------------------------------------------------
# resolving the arguments


def _loss_fn(loss: Any) -> Callable[[Any, Any], Tensor]:
    if isinstance(loss, str):
        from ..nn import functional

        fn = getattr(functional, loss, None)
        if fn is None:
            raise ValueError(f"fit: unknown loss {loss!r}; pass a loss module "
                             f"(nn.CrossEntropyLoss()) or a function of deepwise.nn.functional "
                             f"by name ('cross_entropy', 'mse_loss' ...)")
        return fn
    if not callable(loss):
        raise TypeError(f"fit: loss must be callable (an nn loss module or a function), got "
                        f"{type(loss).__name__}")
    return loss


def _loss_kind(loss: Any) -> str:
    """'logits' / 'probs' for the binary cross-entropies, 'regression', or '' (classification)."""
    from .. import nn
    from ..nn import functional
    name = type(loss).__name__ if isinstance(loss, nn.Module) else getattr(loss, "__name__", "")
    if name in ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits"):
        return "logits"
    if name in ("BCELoss", "binary_cross_entropy"):
        return "probs"
    if isinstance(loss, nn.Module) and name in _REGRESSION_LOSSES:
        return "regression"
    if any(loss is getattr(functional, n, None) for n in _REGRESSION_FUNCTIONS):
        return "regression"
    return ""


def _resolve_metrics(metrics: Any, loss: Any) -> list[Metric]:
    """Metric objects from names/objects/functions. As in Keras, "accuracy" with a binary
    cross-entropy becomes thresholded accuracy (0 for logits, 0.5 for probabilities); the
    default ("accuracy",) is dropped for regression losses."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]
    kind = _loss_kind(loss) if loss is not None else ""
    if metrics is DEFAULT_METRICS and kind == "regression":
        return []
    out: list[Metric] = []
    for spec in metrics:
        m = get_metric(spec)
        if isinstance(spec, str) and isinstance(m, Accuracy) and kind in ("logits", "probs"):
            m.threshold = 0.0 if kind == "logits" else 0.5
        out.append(m)
    names = [m.name for m in out]
    dup = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
    if dup:
        raise ValueError(f"fit: metric names must be unique and not 'loss'; got {names} (give "
                         f"each a name=...)")
    return out


def _batches(data: Any, where: str) -> Iterable[Any]:
    """A DataLoader / any iterable of (x, y); a pair of arrays (X, y) counts as one batch."""
    if isinstance(data, tuple) and len(data) == 2 and all(
            isinstance(d, (Tensor, np.ndarray)) for d in data):
        return [data]
    if not isinstance(data, Iterable):
        raise TypeError(f"{where}: expected a DataLoader or an iterable of (x, y) batches, got "
                        f"{type(data).__name__}")
    return data


def _unpack(batch: Any, where: str) -> tuple[tuple[Tensor, ...], Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = f"a {type(batch).__name__}" + (f" of length {len(batch)}"
                                             if isinstance(batch, (tuple, list)) else "")
        raise ValueError(f"{where}: each batch must be a pair (x, y), got {got}")
    x, y = batch
    xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    xs = tuple(v if isinstance(v, Tensor) else as_tensor(v) for v in xs)
    return xs, (y if isinstance(y, Tensor) else as_tensor(y))


def _batch_size(y: Tensor) -> int:
    return int(y.shape[0]) if y.ndim else 1


def _scalar_loss(value: Any, where: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{where}: the loss function must return a Tensor, got "
                        f"{type(value).__name__}")
    if value.data.size != 1:
        raise ValueError(f"{where}: the loss must be a scalar, got shape {tuple(value.shape)} "
                         f"(use reduction='mean' or 'sum')")
    return value


# --------------------------------------------------------------------------------------------
# evaluate and fit


def _evaluate(model: Any, data: Any, loss_fn: Callable | None, metrics: list[Metric],
              where: str) -> dict[str, float]:
    for m in metrics:
        m.reset()
    total, count = 0.0, 0
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            for batch in _batches(data, where):
                xs, y = _unpack(batch, where)
                out = model(*xs)
                n = _batch_size(y)
                if loss_fn is not None:
                    total += float(_scalar_loss(loss_fn(out, y), where).data) * n
                for m in metrics:
                    m.update(out, y)
                count += n
    finally:
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)
    if count == 0:
        raise ValueError(f"{where}: the data yielded no batches")
    logs = {"loss": total / count} if loss_fn is not None else {}
    logs.update({m.name: m.compute() for m in metrics})
    return logs


def evaluate(model: Any, data: Any, loss: Any = None,
             metrics: Sequence[Any] | None = DEFAULT_METRICS) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` (a DataLoader or iterable of (x, y)), in eval
    mode under ``no_grad``; the model's train/eval mode is restored afterwards.

    Returns ``{"loss": ..., "accuracy": ...}`` (no "loss" when ``loss`` is None); the loss is
    the mean over samples (batch means weighted by batch size).
    """
    loss_fn = _loss_fn(loss) if loss is not None else None
    return _evaluate(model, data, loss_fn, _resolve_metrics(metrics, loss), "evaluate")


def fit(model: Any, train_data: Any, *, val_data: Any = None, loss: Any, optimizer: Any,
        epochs: int = 1, scheduler: Any = None, callbacks: Sequence[Callback] = (),
        metrics: Sequence[Any] | None = DEFAULT_METRICS, verbose: bool = True,
        initial_epoch: int = 0) -> History:
    """Train ``model`` for ``epochs`` epochs; return the :class:`History`.

    Args:
        train_data, val_data: DataLoaders (or any re-iterable of (x, y) batches; x may be a tuple
            of inputs, passed as ``model(*x)``). Validation runs after each epoch.
        loss: ``loss(output, y) -> scalar Tensor``: an nn loss module, a function, or the name
            of one in ``nn.functional`` ("cross_entropy").
        optimizer: a deepwise optimizer (``zero_grad``/``step``).
        scheduler: an lr scheduler, stepped per epoch, per batch (OneCycleLR, CyclicLR) or on
            the validation loss (ReduceLROnPlateau); wrap it in ``callbacks.LRScheduler`` to
            choose otherwise.
        callbacks: ``EarlyStopping``, ``ModelCheckpoint``, ``CSVLogger`` ... (``train.callbacks``).
        metrics: names ("accuracy", "top5_accuracy", "f1" ...), Metric objects or functions.
        verbose: show progress (a tqdm bar on a terminal, else one line per epoch).
        initial_epoch: the epoch to start from when resuming (``load_checkpoint(...)["epoch"]``).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    loss_fn = _loss_fn(loss)
    train_metrics = _resolve_metrics(metrics, loss)
    val_metrics = copy.deepcopy(train_metrics)
    train_data = _batches(train_data, "fit(train_data)")

    user = list(callbacks)
    for cb in user:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback objects, got {type(cb).__name__}")
    if scheduler is not None and not isinstance(scheduler, LRScheduler):
        scheduler = LRScheduler(scheduler)
    sched_cbs = [cb for cb in user if isinstance(cb, LRScheduler)] + ([scheduler] if scheduler
                                                                      else [])
    if len({id(cb.lr_scheduler) for cb in sched_cbs}) < len(sched_cbs):
        raise ValueError("fit: the same lr scheduler is given twice (scheduler= and an "
                         "LRScheduler callback); it would be stepped twice")
    # History first (a checkpoint saved at epoch end then holds this epoch), then progress,
    # then the scheduler (stepped before a checkpoint records its state), then the user's
    history = next((cb for cb in user if isinstance(cb, History)), None) or History()
    ordered = [history]
    if verbose and not any(isinstance(cb, ProgressBar) for cb in user):
        ordered.append(ProgressBar())
    ordered += sched_cbs
    cbs = CallbackList(ordered + [cb for cb in user if cb is not history and cb not in sched_cbs])
    steps = len(train_data) if hasattr(train_data, "__len__") else None
    cbs.bind(model=model, optimizer=optimizer,
             scheduler=sched_cbs[0].lr_scheduler if sched_cbs else None, history=history,
             params={"epochs": int(epochs), "steps": steps, "verbose": verbose,
                     "metrics": [m.name for m in train_metrics],
                     "do_validation": val_data is not None, "initial_epoch": initial_epoch})

    logs: dict[str, Any] = {}
    cbs.on_train_begin(logs)
    for epoch in range(initial_epoch, epochs):
        start = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        cbs.on_epoch_begin(epoch, {})
        model.train()
        for m in train_metrics:
            m.reset()
        total, count = 0.0, 0
        for i, batch in enumerate(train_data):
            if cbs.stop_training:
                break
            cbs.on_batch_begin(i, {"batch": i})
            xs, y = _unpack(batch, "fit(train_data)")
            optimizer.zero_grad()
            out = model(*xs)
            batch_loss = _scalar_loss(loss_fn(out, y), "fit")
            batch_loss.backward()
            optimizer.step()
            value, n = float(batch_loss.data), _batch_size(y)
            total += value * n
            count += n
            for m in train_metrics:
                m.update(out, y)
            cbs.on_batch_end(i, {"batch": i, "size": n, "loss": value})
        if count == 0:
            if cbs.stop_training:
                break
            raise ValueError("fit: train_data yielded no batches (a generator is used up after "
                             "one epoch: pass a DataLoader or a list)")
        logs = {"loss": total / count, **{m.name: m.compute() for m in train_metrics}}
        if val_data is not None:
            val = _evaluate(model, val_data, loss_fn, val_metrics, "fit(val_data)")
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = lr
        logs["time"] = time.perf_counter() - start
        cbs.on_epoch_end(epoch, logs)
        if cbs.stop_training:
            break
    cbs.on_train_end(logs)
    return history
