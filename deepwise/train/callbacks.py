"""Callbacks: code that ``fit`` runs at fixed points of training (Keras's idea, Keras's names).

``fit`` calls, in this order::

    on_train_begin(logs)
    for each epoch:   on_epoch_begin(epoch, logs)
        for each batch:   on_batch_begin(batch, logs) ... step ... on_batch_end(batch, logs)
        (validation)
        on_epoch_end(epoch, logs)     # logs: loss, accuracy, val_loss, val_accuracy, lr, time
    on_train_end(logs)

Epochs and batches count from 0. Batch logs hold ``batch``, ``size`` and ``loss`` (this batch's).
Before training, ``fit`` gives every callback ``model``, ``optimizer``, ``scheduler``, ``history``
(the History being filled) and ``params`` (``epochs``, ``steps``, ``verbose``, ``metrics``,
``do_validation``). A callback stops training by setting ``self.stop_training = True``: after the
current batch (from a batch hook) or after the current epoch (from an epoch hook).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from .. import io as dwio
from ..optim import lr_scheduler as _lrs
from ..tensor import Tensor

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "ProgressBar",
           "CSVLogger", "TerminateOnNaN", "LRScheduler", "LambdaCallback", "MonitorError",
           "format_logs"]

Logs = dict[str, Any]


class Callback:
    """Base class: override the hooks you need; each gets ``logs``, a dict of numbers."""

    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    history: Any = None
    params: dict[str, Any] = {}  # replaced per fit, never mutated
    stop_training: bool = False
    _own: tuple[str, ...] = ()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        pass

    def on_train_end(self, logs: Logs | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        pass


class CallbackList:
    """Calls each hook on every callback, in order; ``stop_training`` is true once any asks."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def bind(self, **context: Any) -> None:
        """Give each callback the run's context (``model``, ``optimizer`` ...), except the
        names it keeps for itself (``_own``: History's ``history`` is its dict)."""
        for cb in self.callbacks:
            for k, v in context.items():
                if k not in cb._own:
                    setattr(cb, k, v)
            cb.stop_training = False

    @property
    def stop_training(self) -> bool:
        return any(cb.stop_training for cb in self.callbacks)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)


# --------------------------------------------------------------------------------------------
# helpers shared by the monitoring callbacks

_MAX_NAMES = ("acc", "accuracy", "f1", "precision", "recall", "auc")


def _resolve_mode(monitor: str, mode: str, who: str) -> str:
    """'auto' -> 'max' for accuracy-like names (accuracy, top5_accuracy, f1 ...), else 'min'."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    base = monitor.removeprefix("val_")
    return "max" if base in _MAX_NAMES or base.endswith("accuracy") else "min"


class MonitorError(KeyError):
    """A callback monitors a value that the epoch logs do not have (a KeyError, printed plainly)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _monitored(logs: Logs | None, monitor: str, who: str) -> float:
    logs = logs or {}
    if monitor not in logs:
        hint = " (pass val_data to fit, or monitor='loss')" if monitor.startswith("val_") else ""
        raise MonitorError(f"{who}: the monitored value {monitor!r} is not in the epoch logs "
                           f"(they have {list(logs)}){hint}")
    return float(logs[monitor])


def _copy_state(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v.data if isinstance(v, Tensor) else v, copy=True)
            for k, v in model.state_dict().items()}


def format_logs(logs: Logs) -> str:
    """``loss: 0.4312 - accuracy: 0.8750 - lr: 0.001 - 1.2s`` (the one-line epoch summary)."""
    parts = []
    for k, v in logs.items():
        if k == "time":
            continue
        if isinstance(v, float) and k == "lr":
            parts.append(f"{k}: {v:.3g}")
        elif isinstance(v, (float, np.floating)):
            parts.append(f"{k}: {v:.4f}")
        else:
            parts.append(f"{k}: {v}")
    if "time" in logs:
        parts.append(f"{logs['time']:.1f}s")
    return " - ".join(parts)


# --------------------------------------------------------------------------------------------
# the callbacks


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when its value beats the best so far by more than ``min_delta``
    (lower for 'min', higher for 'max'; 'auto' picks 'max' for accuracy-like names). With
    ``restore_best_weights`` the model gets back the weights of its best epoch when training
    ends. ``baseline``: training also stops if the value never beats it within ``patience``.
    After training: ``stopped_epoch`` (0 if it ran to the end), ``best``, ``best_epoch``.

    >>> fit(model, train, val_data=val, ..., callbacks=[EarlyStopping(patience=3,
    ...     restore_best_weights=True)])                                     # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 baseline: float | None = None, verbose: bool = False) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        self.mode = _resolve_mode(monitor, mode, "EarlyStopping")
        self.restore_best_weights, self.baseline, self.verbose = (restore_best_weights, baseline,
                                                                  verbose)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_weights: dict[str, np.ndarray] | None = None

    def _improves(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = _monitored(logs, self.monitor, "EarlyStopping")
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.model)
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.verbose and self.stopped_epoch:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch}; best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch}")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch}")


class ModelCheckpoint(Callback):
    """Save the model after each epoch (atomically, as safetensors via ``deepwise.io``).

    ``filepath`` may hold ``{epoch}`` (counted from 1, formatted like ``{epoch:02d}``) and any
    log name (``{val_loss:.3f}``). By default a full checkpoint is written
    (``save_checkpoint``: model, optimizer, scheduler, epoch, history, RNG state, logs), which
    ``load_checkpoint`` restores to resume a run exactly
    (``fit(..., initial_epoch=ckpt["epoch"])``); ``save_weights_only=True`` writes just the
    model's state dict. ``save_best_only``: save only when ``monitor`` improves on the best so
    far (a fixed ``filepath`` then always holds the best).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto",
                 save_weights_only: bool = False, verbose: bool = False) -> None:
        self.filepath, self.monitor = os.fspath(filepath), monitor
        self.save_best_only, self.save_weights_only, self.verbose = (save_best_only,
                                                                     save_weights_only, verbose)
        self.mode = _resolve_mode(monitor, mode, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_path: str | None = None

    def _path(self, epoch: int, logs: Logs) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in the file path {self.filepath!r} "
                             f"({type(e).__name__}: {e}); it may use {{epoch}} and the log "
                             f"names {list(logs)}") from e

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = current
        path = self._path(epoch, logs)
        if self.save_weights_only:
            dwio.save(self.model.state_dict(), path)
        else:
            dwio.save_checkpoint(path, self.model, self.optimizer, epoch=epoch + 1,
                                 history=self.history, scheduler=self.scheduler, logs=logs)
        self.last_path = path
        if self.verbose:
            print(f"ModelCheckpoint: saved epoch {epoch + 1} to {path}")


class ProgressBar(Callback):
    """Show progress: a tqdm bar per epoch when writing to a terminal and tqdm is installed,
    otherwise one plain line per epoch (``Epoch 3/10 - loss: 0.4312 - accuracy: 0.8750 - 1.2s``),
    which suits logs and notebooks. ``fit(verbose=True)`` adds one.

    ``mode``: 'auto' (as above), 'bar' (tqdm always), 'line' (plain lines always).
    """

    def __init__(self, mode: str = "auto", file: IO[str] | None = None) -> None:
        if mode not in ("auto", "bar", "line"):
            raise ValueError(f"ProgressBar: mode must be 'auto', 'bar' or 'line', got {mode!r}")
        self.mode, self.file = mode, file
        self._bar: Any = None
        self._tqdm: Any = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        out = self.file or sys.stdout
        use_bar = self.mode == "bar" or (self.mode == "auto" and hasattr(out, "isatty")
                                         and out.isatty())
        self._tqdm = None
        if use_bar:
            try:
                from tqdm.auto import tqdm
                self._tqdm = tqdm
            except ImportError:
                if self.mode == "bar":
                    raise ImportError("ProgressBar(mode='bar') needs tqdm: pip install tqdm or "
                                      "use mode='line'") from None

    def _title(self, epoch: int) -> str:
        return f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._seen = 0
        self._loss_sum = 0.0
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.params.get("steps"), desc=self._title(epoch),
                                   unit="batch", file=self.file or sys.stdout, leave=True)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._bar is None:
            return
        logs = logs or {}
        n = logs.get("size", 1)
        self._seen += n
        self._loss_sum += float(logs.get("loss", 0.0)) * n
        self._bar.update(1)
        self._bar.set_postfix_str(f"loss: {self._loss_sum / max(self._seen, 1):.4f}",
                                  refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        line = format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(line, refresh=True)
            self._bar.close()
            self._bar = None
        else:
            print(f"{self._title(epoch)} - {line}", file=self.file or sys.stdout, flush=True)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file: ``epoch`` (from 0) then every log value
    (loss, accuracy, val_loss, val_accuracy, lr, time). The file is rewritten atomically after
    every epoch, so it is always complete. ``append=True`` continues an existing file."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.fields: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.fields, self.rows = [], []
        if self.append and os.path.isfile(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f, delimiter=self.separator)
                self.fields = list(reader.fieldnames or [])
                self.rows = list(reader)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        row = {"epoch": epoch, **(logs or {})}
        for k in row:
            if k not in self.fields:
                self.fields.append(k)
        self.rows.append(row)
        with dwio.atomic_write(self.filename, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, delimiter=self.separator,
                                    restval="")
            writer.writeheader()
            writer.writerows(self.rows)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite (a diverging run)."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch)
        self._epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.stopped_at = None

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_at = (self._epoch, batch)
            self.stop_training = True
            if self.verbose:
                print(f"TerminateOnNaN: the loss is {loss} at epoch {self._epoch}, batch {batch}; "
                      f"training stopped (a learning rate too high?)")


_PER_STEP = tuple(getattr(_lrs, n) for n in ("OneCycleLR", "CyclicLR") if hasattr(_lrs, n))


class LRScheduler(Callback):
    """Step a learning-rate scheduler at the right moment.

    ``interval='epoch'`` (default for StepLR, CosineAnnealingLR ...): ``scheduler.step()`` after
    each epoch; ``'step'`` (default for OneCycleLR and CyclicLR): after each batch.
    ReduceLROnPlateau gets ``scheduler.step(logs[monitor])`` after each epoch; ``monitor``
    defaults to 'val_loss', or 'loss' when there is no validation data.
    ``fit(scheduler=s)`` wraps ``s`` in ``LRScheduler(s)``.
    """

    def __init__(self, scheduler: Any, interval: str | None = None,
                 monitor: str | None = None) -> None:
        self.plateau = isinstance(scheduler, _lrs.ReduceLROnPlateau)
        if interval is None:
            interval = "step" if isinstance(scheduler, _PER_STEP) else "epoch"
        if interval not in ("epoch", "step"):
            raise ValueError(f"LRScheduler: interval must be 'epoch' or 'step', got {interval!r}")
        if self.plateau and interval == "step":
            raise ValueError("LRScheduler: ReduceLROnPlateau steps on an epoch metric; use "
                             "interval='epoch'")
        if monitor is not None and not self.plateau:
            raise ValueError(f"LRScheduler: monitor={monitor!r} is only for ReduceLROnPlateau, "
                             f"not {type(scheduler).__name__}")
        self.lr_scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.interval == "step":
            self.lr_scheduler.step()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            monitor = self.monitor or ("val_loss" if "val_loss" in (logs or {}) else "loss")
            self.lr_scheduler.step(_monitored(logs, monitor, "LRScheduler(ReduceLROnPlateau)"))
        else:
            self.lr_scheduler.step()


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs:
    print(epoch, logs["loss"]))``. Each is called with the hook's arguments."""

    def __init__(self, on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None,
                 on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_batch_begin: Callable | None = None,
                 on_batch_end: Callable | None = None) -> None:
        hooks = {"on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end}
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got "
                                    f"{type(fn).__name__}")
                setattr(self, name, fn)
