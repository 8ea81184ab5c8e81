"""OverfittingMonitor: notice when the model starts to memorise the training set.

Overfitting shows as a gap between the training loss (still falling) and the validation loss
(flat or rising). The callback measures that gap every epoch; when it has grown for ``patience``
epochs in a row, it warns (:class:`OverfittingWarning`) and names the remedies with the exact
options to use in deepwise.

A diagnosis that fires on noise teaches the wrong lesson, so both checks here ask for a trend,
not a wiggle: at the end of a converged run (a cosine schedule, say) the validation loss moves
by a fraction of a percent from epoch to epoch, and that is not overfitting. The thresholds:

* relative: the gap (monitor) or the validation loss (:func:`overfitting_onset`, used by
  ``explain.report``) must rise by at least ``min_rise`` (5%) of the validation value;
* sustained: over ``patience`` epochs (the gap grew in each of them; the validation loss stayed
  above its best in each of the last ones);
* a train/validation gap: the validation value got worse while the training one did not, which
  tells overfitting from a run that is simply unstable (both rising).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..train.callbacks import Callback
from ._common import fmt

__all__ = ["OverfittingMonitor", "OverfittingWarning", "REMEDIES", "overfitting_onset"]

MIN_RISE = 0.05  # a rise of 5% of the validation value separates a trend from epoch noise

REMEDIES = (
    "dropout: put nn.Dropout(p=0.3) after the hidden layers (p from 0.1 to 0.5; it is active "
    "only in model.train() mode)",
    "L2 / weight decay: optim.SGD(model.parameters(), lr=..., weight_decay=1e-4), or "
    "optim.AdamW(model.parameters(), lr=..., weight_decay=1e-2)",
    "L1: add nn.utils.l1_penalty(model, weight=1e-5) to the loss",
    "early stopping: callbacks=[train.EarlyStopping(monitor='val_loss', patience=5, "
    "restore_best_weights=True)]",
    "data augmentation (images): transform=data.transforms.Compose([lambda x: "
    "data.transforms.random_crop(x, 28, padding=2), data.transforms.random_horizontal_flip])",
    "more training data, or a smaller model (fewer or narrower layers)",
)


class OverfittingWarning(UserWarning):
    """The validation metric drifts away from the training metric (issued by
    :class:`OverfittingMonitor`)."""


def overfitting_onset(loss: Sequence[float], val_loss: Sequence[float], *,
                      patience: int = 2, min_rise: float = MIN_RISE) -> dict[str, Any] | None:
    """Did a finished run overfit? ``None``, or the facts of the verdict as a dict.

    Overfitting is called when, with ``b`` the epoch of the best validation loss:

    * at least ``patience`` epochs came after ``b`` (sustained, not the last epoch's wiggle);
    * in each of the last ``patience`` epochs the validation loss stayed above
      ``val[b] * (1 + min_rise)`` (a relative rise: 5% by default, scale-free);
    * the train/validation gap widened by at least ``min_rise * val[b]`` from epoch ``b`` (the
      training loss did not rise with it: that would be instability, not memorisation).

    Returns ``{"best_epoch", "best", "last", "rise", "train_best", "train_last"}`` (epochs
    counted from 1; ``rise`` relative) when all three hold.

    >>> overfitting_onset([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [1.0, 0.6, 0.5, 0.6, 0.7, 0.8])["rise"]
    0.6
    >>> overfitting_onset([0.3, 0.2, 0.16, 0.15], [0.2, 0.15, 0.148, 0.1485]) is None
    True
    """
    val = np.asarray(val_loss, dtype=np.float64)
    tr = np.asarray(loss, dtype=np.float64)
    n = min(len(val), len(tr))
    if n < patience + 2 or not np.isfinite(val[:n]).all() or not np.isfinite(tr[:n]).all():
        return None
    val, tr = val[:n], tr[:n]
    b = int(np.argmin(val))
    if n - 1 - b < patience:
        return None
    floor = val[b] + min_rise * abs(val[b])
    if val[-patience:].min() <= floor:
        return None
    widened = (val[-1] - tr[-1]) - (val[b] - tr[b])
    if widened < min_rise * abs(val[b]):
        return None
    return {"best_epoch": b + 1, "best": float(val[b]), "last": float(val[-1]),
            "rise": round(float(val[-1] / val[b] - 1), 6) if val[b] else math.inf,
            "train_best": float(tr[b]), "train_last": float(tr[-1])}


class OverfittingMonitor(Callback):
    """Warn when the gap between ``val_<monitor>`` and ``<monitor>`` grows for ``patience``
    epochs in a row - by enough to be a trend, while the validation value gets worse.

    The gap is ``val_loss - loss`` for losses (lower is better) and ``accuracy - val_accuracy``
    for accuracy-like metrics, so a positive, growing gap always means overfitting. An epoch
    counts as growth when the gap increases by more than ``min_delta``. The warning needs all of:

    * ``patience`` epochs of growth in a row;
    * growth over them of at least ``min_rise`` (relative, 5%) of the validation value at its
      start - so a converged run whose gap wiggles by 0.1% stays silent;
    * the validation value worse than its best so far (a gap that grows while the validation
      loss still falls is not yet hurting: early stopping would not stop there either).

    The warning fires once per run of growth (again if the gap shrinks and then grows for
    ``patience`` more epochs). After training: ``gaps`` (one per epoch), ``warned_epochs``,
    ``messages``.
    """

    def __init__(self, patience: int = 3, monitor: str = "loss", min_delta: float = 0.0,
                 warn: bool = True, min_rise: float = MIN_RISE) -> None:
        if patience < 1:
            raise ValueError(f"OverfittingMonitor: patience must be >= 1, got {patience}")
        if not min_rise >= 0:
            raise ValueError(f"OverfittingMonitor: min_rise must be >= 0, got {min_rise}")
        self.patience, self.monitor = int(patience), monitor.removeprefix("val_")
        self.min_delta, self.warn, self.min_rise = float(min_delta), warn, float(min_rise)
        base = self.monitor
        self.higher_is_better = base in ("acc", "accuracy", "f1", "precision", "recall") or \
            base.endswith("accuracy")
        self._reset()

    def _reset(self) -> None:
        self.gaps: list[float] = []
        self.warned_epochs: list[int] = []
        self.messages: list[str] = []
        self._growing = 0
        self._armed = True
        self._start_gap: float | None = None
        self._start_val = self._last_val = 0.0
        self._best_val: float | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        key, vkey = self.monitor, f"val_{self.monitor}"
        if key not in logs or vkey not in logs:
            raise KeyError(f"OverfittingMonitor: needs {key!r} and {vkey!r} in the epoch logs "
                           f"(they have {list(logs)}); pass val_data= to fit")
        train_v, val_v = float(logs[key]), float(logs[vkey])
        gap = train_v - val_v if self.higher_is_better else val_v - train_v
        if self.gaps and gap > self.gaps[-1] + self.min_delta:
            if self._growing == 0:
                self._start_gap, self._start_val = self.gaps[-1], self._last_val
            self._growing += 1
        else:
            self._growing = 0
            self._armed = True
        self.gaps.append(gap)
        self._last_val = val_v
        best = self._best_val
        worse = best is not None and (val_v < best if self.higher_is_better else val_v > best)
        if best is None or not worse:
            self._best_val = val_v
        trend = gap - (self._start_gap or 0.0) >= self.min_rise * abs(self._start_val)
        if self._growing >= self.patience and gap > 0 and self._armed and trend and worse:
            self._armed = False
            self.warned_epochs.append(epoch)
            msg = (f"OverfittingMonitor: the gap between {vkey} and {key} has grown for "
                   f"{self._growing} epochs (from {fmt(self._start_gap or 0.0)} to {fmt(gap)} at "
                   f"epoch {epoch}; {key} {fmt(train_v)}, {vkey} {fmt(val_v)}): the model is "
                   "fitting the training set better than new data. Remedies:\n"
                   + "\n".join(f"  - {r}" for r in REMEDIES))
            self.messages.append(msg)
            if self.warn:
                warnings.warn(msg, OverfittingWarning, stacklevel=2)

    def __repr__(self) -> str:
        return (f"OverfittingMonitor(patience={self.patience}, monitor={self.monitor!r}, "
                f"min_rise={self.min_rise}, warned at epochs {self.warned_epochs})")

