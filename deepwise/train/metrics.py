"""Classification metrics: functions for one batch, and metric objects that accumulate over batches.

Functions (NumPy arrays or Tensors in, a Python float out):
``accuracy``, ``top_k_accuracy``, ``precision``, ``recall``, ``f1`` (macro-averaged by default),
``confusion_matrix`` (an array).

What ``output`` may be - the same rules everywhere:

* scores (logits or probabilities) with the class axis at dim 1, as ``cross_entropy`` takes them:
  ``output (N, C)`` or ``(N, C, d1, ...)`` with ``target (N,)`` or ``(N, d1, ...)`` of class
  indices; the prediction is the arg-max over dim 1;
* predicted labels of the target's shape (integers);
* binary scores of the target's shape (or ``(N, 1)``): pass ``threshold`` (0.5 for
  probabilities, 0.0 for logits); the prediction is ``output > threshold``;
* with ``target`` of ``output``'s shape holding floats that sum to 1 over dim 1 (one-hot or
  class probabilities, as ``cross_entropy`` accepts) and no threshold, both are arg-maxed.

The metric-object protocol (what ``fit`` and ``evaluate`` call), kept small on purpose::

    m.reset()                  # forget everything: called at the start of each epoch
    m.update(output, target)   # add one batch (the model's raw output and the labels)
    m.compute() -> float       # the value over all batches since reset (nan before any data)
    m.name                     # its key in the logs ("accuracy"; "val_accuracy" on validation)

Objects accumulate counts, not per-batch averages, so the epoch value is exact whatever the batch
sizes (F1 over an epoch is the F1 of its confusion matrix, not the mean of per-batch F1s).
Strings name them in ``fit(metrics=...)``: ``"accuracy"``, ``"top5_accuracy"``, ``"f1"``,
``"precision"``, ``"recall"``; any function ``fn(output, target) -> float`` is averaged over
batches, weighted by the number of target elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import ShapeError
from ..tensor import Tensor

__all__ = ["accuracy", "top_k_accuracy", "precision", "recall", "f1", "confusion_matrix",
           "Metric", "Accuracy", "TopKAccuracy", "Precision", "Recall", "F1", "ConfusionMatrix",
           "Mean", "get_metric"]


def _np(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _as_labels(arr: np.ndarray, what: str, op: str) -> np.ndarray:
    """Integer class labels from an int/bool array or a float array holding whole numbers."""
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise ValueError(f"{op}: {what} should hold class labels (whole numbers), got {arr.dtype} "
                     f"values such as {arr.reshape(-1)[:3]}; for binary scores of the target's "
                     f"shape pass threshold=0.5 (probabilities) or threshold=0.0 (logits)")


def _predictions(output: Any, target: Any, threshold: float | None = None,
                 op: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
    """(predicted labels, true labels) as int64 arrays of the target's shape. See the module doc."""
    out, tgt = _np(output), _np(target)
    if threshold is not None:
        if out.ndim == tgt.ndim + 1 and out.shape[1] == 1:
            out = out.squeeze(1)
        if out.shape != tgt.shape:
            raise ShapeError(f"{op}: binary scores (threshold={threshold}) must have the target's "
                             f"shape (or (N, 1)); got output {out.shape}, target {tgt.shape}")
        return (out > threshold).astype(np.int64), _as_labels(tgt, "target", op)
    if out.ndim == tgt.ndim + 1:
        axis = 1 if out.ndim >= 2 else 0
        if out.shape[axis] == 1:
            raise ValueError(f"{op}: output {out.shape} has one score per sample (binary); pass "
                             f"threshold=0.5 (probabilities) or threshold=0.0 (logits)")
        expect = out.shape[:axis] + out.shape[axis + 1:]
        if expect != tgt.shape:
            raise ShapeError(f"{op}: output {out.shape} (scores, classes at dim {axis}) expects a "
                             f"target of shape {expect}, got {tgt.shape}")
        return out.argmax(axis=axis), _as_labels(tgt, "target", op)
    if out.shape != tgt.shape:
        raise ShapeError(f"{op}: expected output (N, C, ...) with target (N, ...), or output of "
                         f"the target's shape; got output {out.shape}, target {tgt.shape}")
    if tgt.dtype.kind == "f" and out.ndim >= 2 and out.dtype.kind == "f" and \
            np.allclose(tgt.sum(axis=1), 1.0, atol=1e-5):
        return out.argmax(axis=1), tgt.argmax(axis=1)  # one-hot / class-probability targets
    return _as_labels(out, "output", op), _as_labels(tgt, "target", op)


def accuracy(output: Any, target: Any, threshold: float | None = None) -> float:
    """Fraction of predictions equal to the target.

    Shape: output (N, C, ...) scores with target (N, ...) labels, or predictions of the target's
    shape. ``accuracy(logits, y)`` == ``(logits.argmax(1) == y).mean()``.
    """
    pred, tgt = _predictions(output, target, threshold, "accuracy")
    return float(np.mean(pred == tgt)) if tgt.size else float("nan")


def _class_scores(output: Any, target: Any, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores as (M, C) and labels as (M,), classes moved last (dim 1 in the input)."""
    out, tgt = _np(output), _np(target)
    if out.ndim != tgt.ndim + 1 or out.ndim < 2 or out.shape[:1] + out.shape[2:] != tgt.shape:
        raise ShapeError(f"{op}: expected scores (N, C, ...) and a target (N, ...) of labels; got "
                         f"output {out.shape}, target {tgt.shape}")
    c = out.shape[1]
    scores = np.moveaxis(out, 1, -1).reshape(-1, c)
    labels = _as_labels(tgt, "target", op).reshape(-1)
    _check_range(labels, c, op, "target")
    return scores, labels


def _check_range(labels: np.ndarray, n: int, op: str, what: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)][0]
        raise ValueError(f"{op}: {what} label {bad} is out of range for {n} classes [0, {n})")


def _top_k_hits(output: Any, target: Any, k: int) -> np.ndarray:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be a positive int, got {k!r}")
    scores, labels = _class_scores(output, target, "top_k_accuracy")
    true_score = scores[np.arange(labels.size), labels]
    # rank of the true class = how many classes score strictly higher (ties count in its favour)
    return (scores > true_score[:, None]).sum(axis=1) < k


def top_k_accuracy(output: Any, target: Any, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Shape: output (N, C, ...) scores, target (N, ...) labels. Ties with the true class's score
    count in its favour. ``k=1`` is accuracy (up to ties).
    """
    hits = _top_k_hits(output, target, k)
    return float(hits.mean()) if hits.size else float("nan")


def confusion_matrix(output: Any, target: Any, num_classes: int | None = None,
                     threshold: float | None = None) -> np.ndarray:
    """Counts ``cm[true, predicted]`` (rows: the true class, columns: the predicted one).

    Shape: output (N, C, ...) scores or predictions of the target's shape; result
    (num_classes, num_classes) int64 (num_classes defaults to the largest label seen + 1).
    """
    pred, tgt = _predictions(output, target, threshold, "confusion_matrix")
    pred, tgt = pred.reshape(-1), tgt.reshape(-1)
    if num_classes is None:
        num_classes = int(max(pred.max(initial=-1), tgt.max(initial=-1))) + 1
        out = _np(output)
        if out.ndim == _np(target).ndim + 1 and threshold is None:
            num_classes = max(num_classes, out.shape[1 if out.ndim >= 2 else 0])
    _check_range(tgt, num_classes, "confusion_matrix", "target")
    _check_range(pred, num_classes, "confusion_matrix", "predicted")
    counts = np.bincount(tgt * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


_AVERAGES = ("macro", "micro", "weighted", None, "none")


def _from_confusion(cm: np.ndarray, kind: str, average: str | None) -> float | np.ndarray:
    """precision / recall / f1 from a confusion matrix; 0 where a class has no denominator."""
    if average not in _AVERAGES:
        raise ValueError(f"{kind}: average must be one of {_AVERAGES}, got {average!r}")
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    denom = {"precision": predicted, "recall": actual, "f1": (predicted + actual) / 2}[kind]
    per_class = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
    if average in (None, "none"):
        return per_class
    if cm.sum() == 0:
        return float("nan")
    if average == "micro":  # single-label: micro precision = recall = f1 = accuracy
        return float(tp.sum() / cm.sum())
    if average == "weighted":
        return float(np.sum(per_class * actual) / actual.sum())
    present = (predicted + actual) > 0  # macro: classes seen in targets or predictions
    return float(per_class[present].mean())


def precision(output: Any, target: Any, num_classes: int | None = None,
              average: str | None = "macro", threshold: float | None = None) -> float:
    """Of the samples predicted as class c, the fraction that are c: tp / (tp + fp).

    ``average``: "macro" (mean over the classes that occur in targets or predictions),
    "micro", "weighted" (by class support), or None for the per-class array.
    """
    cm = confusion_matrix(output, target, num_classes, threshold)
    return _from_confusion(cm, "precision", average)


def recall(output: Any, target: Any, num_classes: int | None = None,
           average: str | None = "macro", threshold: float | None = None) -> float:
    """Of the samples of class c, the fraction predicted as c: tp / (tp + fn). See precision."""
    cm = confusion_matrix(output, target, num_classes, threshold)
    return _from_confusion(cm, "recall", average)


def f1(output: Any, target: Any, num_classes: int | None = None,
       average: str | None = "macro", threshold: float | None = None) -> float:
    """Harmonic mean of precision and recall per class, 2 tp / (2 tp + fp + fn), then averaged
    (macro by default; see precision)."""
    cm = confusion_matrix(output, target, num_classes, threshold)
    return _from_confusion(cm, "f1", average)


# --------------------------------------------------------------------------------------------
# metric objects: reset / update / compute


class Metric:
    """Base class of accumulating metrics (see the protocol in the module docstring)."""

    name: str = "metric"

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Running accuracy: correct predictions / samples since ``reset``."""

    def __init__(self, threshold: float | None = None, name: str = "accuracy") -> None:
        self.threshold, self.name = threshold, name
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        pred, tgt = _predictions(output, target, self.threshold, self.name)
        self.correct += int(np.count_nonzero(pred == tgt))
        self.total += tgt.size

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class TopKAccuracy(Metric):
    """Running top-k accuracy (the true class among the k highest scores)."""

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        self.k, self.name = k, name or f"top{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        hits = _top_k_hits(output, target, self.k)
        self.correct += int(np.count_nonzero(hits))
        self.total += hits.size

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class ConfusionMatrix(Metric):
    """Running confusion matrix ``cm[true, predicted]``; grows when ``num_classes`` is None.
    ``compute()`` returns the (C, C) array (so it is not a scalar log entry)."""

    def __init__(self, num_classes: int | None = None, threshold: float | None = None,
                 name: str = "confusion_matrix") -> None:
        self.num_classes, self.threshold, self.name = num_classes, threshold, name
        self.reset()

    def reset(self) -> None:
        n = self.num_classes or 0
        self.matrix = np.zeros((n, n), dtype=np.int64)

    def update(self, output: Any, target: Any) -> None:
        cm = confusion_matrix(output, target, self.num_classes, self.threshold)
        n = max(cm.shape[0], self.matrix.shape[0])
        if self.matrix.shape[0] < n:
            grown = np.zeros((n, n), dtype=np.int64)
            grown[:self.matrix.shape[0], :self.matrix.shape[0]] = self.matrix
            self.matrix = grown
        self.matrix[:cm.shape[0], :cm.shape[0]] += cm

    def compute(self) -> np.ndarray:
        return self.matrix.copy()


class _FromConfusion(ConfusionMatrix):
    kind = ""

    def __init__(self, num_classes: int | None = None, average: str | None = "macro",
                 threshold: float | None = None, name: str | None = None) -> None:
        if average not in _AVERAGES:
            raise ValueError(f"{self.kind}: average must be one of {_AVERAGES}, got {average!r}")
        self.average = average
        super().__init__(num_classes, threshold, name or self.kind)

    def compute(self) -> float:
        return _from_confusion(self.matrix, self.kind, self.average)


class Precision(_FromConfusion):
    """Running precision (macro by default) from the accumulated confusion matrix."""

    kind = "precision"


class Recall(_FromConfusion):
    """Running recall (macro by default) from the accumulated confusion matrix."""

    kind = "recall"


class F1(_FromConfusion):
    """Running F1 score (macro by default) from the accumulated confusion matrix."""

    kind = "f1"


class Mean(Metric):
    """Average of ``fn(output, target)`` over batches, weighted by the number of target elements
    (wraps a plain function into a metric object)."""

    def __init__(self, fn: Callable[[Any, Any], float], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        value = self.fn(output, target)
        n = max(int(np.size(_np(target))), 1)
        self.total += float(_np(value)) * n
        self.count += n

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


_NAMED: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy, "f1": F1, "precision": Precision, "recall": Recall,
    "top_k_accuracy": TopKAccuracy,
}


def get_metric(spec: str | Metric | Callable[[Any, Any], float]) -> Metric:
    """A metric object from a name ("accuracy", "top5_accuracy", "f1", "precision", "recall"),
    a Metric (returned as it is), or a function ``fn(output, target) -> float`` (wrapped in
    Mean)."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        m = re.fullmatch(r"top_?(\d+)_accuracy", key)
        if m:
            return TopKAccuracy(int(m.group(1)))
        if key in _NAMED:
            metric = _NAMED[key]()
            if key == "acc":
                metric.name = "acc"
            return metric
        raise ValueError(f"unknown metric {spec!r}; known names: accuracy, topK_accuracy (e.g. "
                         f"top5_accuracy), f1, precision, recall - or pass a Metric object or a "
                         f"function fn(output, target) -> float")
    if callable(spec):
        return Mean(spec)
    raise TypeError(f"a metric must be a name, a Metric or a function, got {type(spec).__name__}")
