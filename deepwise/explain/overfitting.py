"""OverfittingMonitor: notice when the model starts to memorise the training set.

Overfitting shows as a gap between the training loss (still falling) and the validation loss
(flat or rising). The callback measures that gap every epoch; when it has grown for ``patience``
epochs in a row, it warns (:class:`OverfittingWarning`) and names the remedies with the exact
options to use in deepwise.
"""

from __future__ import annotations

import warnings

from ..train.callbacks import Callback
from ._common import fmt

__all__ = ["OverfittingMonitor", "OverfittingWarning", "REMEDIES"]

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


class OverfittingMonitor(Callback):
    """Warn when the gap between ``val_<monitor>`` and ``<monitor>`` grows for ``patience``
    epochs in a row.

    The gap is ``val_loss - loss`` for losses (lower is better) and ``accuracy - val_accuracy``
    for accuracy-like metrics, so a positive, growing gap always means overfitting. An epoch
    counts as growth when the gap increases by more than ``min_delta``. The warning fires once
    per run of growth (again if the gap shrinks and then grows for ``patience`` more epochs).

    After training: ``gaps`` (one per epoch), ``warned_epochs``, ``messages``.
    """

    def __init__(self, patience: int = 3, monitor: str = "loss", min_delta: float = 0.0,
                 warn: bool = True) -> None:
        if patience < 1:
            raise ValueError(f"OverfittingMonitor: patience must be >= 1, got {patience}")
        self.patience, self.monitor = int(patience), monitor.removeprefix("val_")
        self.min_delta, self.warn = float(min_delta), warn
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
                self._start_gap = self.gaps[-1]
            self._growing += 1
        else:
            self._growing = 0
            self._armed = True
        self.gaps.append(gap)
        if self._growing >= self.patience and gap > 0 and self._armed:
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
                f"warned at epochs {self.warned_epochs})")

