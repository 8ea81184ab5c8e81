"""Object-detection metrics from their standard (COCO) definition: IoU, the greedy matcher and
average precision at one IoU threshold or averaged over 0.5:0.05:0.95.

The definition, step by step (as ``pycocotools``' COCOeval does it, one class, all areas):

1. IoU of two boxes ``(x1, y1, x2, y2)``: intersection area / union area.
2. Matching, per image and IoU threshold ``t``: detections in order of falling score; each takes
   the not-yet-matched ground-truth box of highest IoU if that IoU >= ``t`` (a true positive);
   else a false positive. A detection that matches no required box but an *ignored* one (a
   figure too hidden or too small to demand) is left out of the count altogether.
3. Over all images: detections sorted by score; cumulative TP and FP give recall
   ``TP / n_gt`` and precision ``TP / (TP + FP)`` at each rank.
4. The precision envelope (precision at recall r = the best precision at any recall >= r),
   read at the 101 recall points 0, 0.01, ..., 1 (0 past the last recall reached); AP is their
   mean.

>>> gt = [np.array([[0, 0, 10, 10]])]
>>> average_precision([np.array([[0, 0, 10, 10]])], [np.array([0.9])], gt)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["box_iou", "match", "average_precision", "coco_ap"]

RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _boxes(b: Any, what: str) -> np.ndarray:
    a = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 4))
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"detection_metrics: {what} must be (K, 4) boxes x1, y1, x2, y2, got "
                         f"shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"detection_metrics: {what} holds NaN or Inf")
    return a


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU of every box in ``a (N, 4)`` with every box in ``b (M, 4)`` -> ``(N, M)``."""
    a, b = _boxes(a, "boxes a"), _boxes(b, "boxes b")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), -1)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match(boxes: Any, scores: Any, gt: Any, threshold: float = 0.5, ignore: Any = None
          ) -> np.ndarray:
    """One image's detections matched greedily by falling score: per detection 1 (true
    positive), 0 (false positive) or -1 (matches only an ignored box: not counted), in the
    detections' own order."""
    boxes, gt = _boxes(boxes, "detections"), _boxes(gt, "ground truth")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"detection_metrics: {len(boxes)} boxes but {len(scores)} scores")
    result = np.zeros(len(boxes), np.int64)
    iou = box_iou(boxes, gt)
    taken = np.zeros(len(gt), bool)
    for d in np.argsort(-scores, kind="stable"):
        if len(gt):
            cand = np.where(taken, -1.0, iou[d])
            g = int(np.argmax(cand))
            if cand[g] >= threshold:
                taken[g] = True
                result[d] = 1
                continue
        if ignore is not None and len(_boxes(ignore, "ignored boxes")):
            if box_iou(boxes[d:d + 1], ignore).max() >= threshold:
                result[d] = -1
    return result


def average_precision(boxes: Sequence[Any], scores: Sequence[Any], gt: Sequence[Any],
                      threshold: float = 0.5, ignore: Sequence[Any] | None = None) -> float:
    """AP at one IoU ``threshold`` over a set of images (lists of per-image arrays), with the
    101-point interpolated precision envelope. NaN when there is no ground-truth box."""
    if not len(boxes) == len(scores) == len(gt):
        raise ValueError(f"detection_metrics: {len(boxes)} images of detections, "
                         f"{len(scores)} of scores, {len(gt)} of ground truth")
    all_scores, all_tp = [], []
    n_gt = 0
    for i, (b, s, g) in enumerate(zip(boxes, scores, gt)):
        m = match(b, s, g, threshold, None if ignore is None else ignore[i])
        keep = m >= 0
        all_scores.append(np.asarray(s, np.float64).reshape(-1)[keep])
        all_tp.append(m[keep])
        n_gt += len(_boxes(g, "ground truth"))
    if n_gt == 0:
        return float("nan")
    s, tp = np.concatenate(all_scores), np.concatenate(all_tp)
    order = np.argsort(-s, kind="mergesort")
    tp = tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    points = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)]
                      if len(envelope) else 0.0, 0.0)
    return float(points.mean())


def coco_ap(boxes: Sequence[Any], scores: Sequence[Any], gt: Sequence[Any],
            ignore: Sequence[Any] | None = None) -> dict[str, float]:
    """``{"ap50", "ap75", "ap"}``: AP at IoU 0.5, 0.75 and the mean over 0.5:0.05:0.95."""
    aps = [average_precision(boxes, scores, gt, t, ignore) for t in np.arange(10) * 0.05 + 0.5]
    return {"ap50": aps[0], "ap75": aps[5], "ap": float(np.mean(aps))}
