"""Displacement metrics of trajectory forecasts, as the field reports them (metres).

- ADE, average displacement error: the L2 distance between predicted and true position,
  averaged over the predicted steps (and over trajectories);
- FDE, final displacement error: the same distance at the last predicted step;
- best-of-K (Social GAN's "20V-20" protocol): draw K futures per trajectory and keep the best.
  Social GAN keeps, for each window (the pedestrians that share the same frames, ``groups``), the
  sample whose *summed* error over the window's pedestrians is least; without ``groups`` each
  trajectory keeps its own best sample (the per-agent minimum of later papers, a smaller figure).

Arrays are NumPy (or CuPy) arrays ``(..., T, 2)``: these are evaluation figures, not losses.

>>> pred = np.zeros((1, 12, 2)); true = np.ones((1, 12, 2))
>>> round(ade(pred, true), 4), round(fde(pred, true), 4)
(1.4142, 1.4142)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend

__all__ = ["displacement_errors", "ade", "fde", "per_step_error", "window_matrix",
           "best_of_k"]


def _check(pred: Any, true: Any, what: str) -> None:
    if pred.shape[-1] != 2 or pred.shape[-2:] != true.shape[-2:] or pred.ndim < 2:
        raise ValueError(f"{what}: expected predicted and true positions of shape (..., T, 2) "
                         f"with the same T, got {tuple(pred.shape)} and {tuple(true.shape)}")


def displacement_errors(pred: Any, true: Any) -> Any:
    """The L2 distance at each step: ``(..., T, 2), (..., T, 2) -> (..., T)`` (broadcasts)."""
    _check(pred, true, "displacement_errors")
    xp = backend.get_array_module(pred)
    return xp.sqrt(((xp.asarray(pred, dtype=np.float64) - true) ** 2).sum(-1))


def ade(pred: Any, true: Any) -> float:
    """Average displacement error over all steps and trajectories."""
    return float(displacement_errors(pred, true).mean())


def fde(pred: Any, true: Any) -> float:
    """Final displacement error: the mean distance at the last step."""
    return float(displacement_errors(pred, true)[..., -1].mean())


def per_step_error(pred: Any, true: Any) -> Any:
    """The mean distance at each step ``(T,)`` (the error curve over the forecast horizon)."""
    err = displacement_errors(pred, true)
    return err.reshape(-1, err.shape[-1]).mean(0)


def window_matrix(groups: Any, dtype: Any = np.float64) -> Any:
    """The one-hot ``(N, G)`` matrix of ``groups (N,)`` (any window ids, numbered here 0..G-1 in
    sorted order): ``errors (K, N) @ window_matrix(groups)`` sums each window's errors per sample.
    """
    xp = backend.get_array_module(groups)
    _, local = xp.unique(xp.asarray(groups), return_inverse=True)
    local = local.reshape(-1)
    onehot = xp.zeros((local.size, int(local.max()) + 1 if local.size else 0), dtype)
    onehot[xp.arange(local.size), local] = 1.0
    return onehot


def best_of_k(samples: Any, true: Any, groups: Any = None) -> tuple[float, float]:
    """``(ADE, FDE)`` of the best of K samples ``(K, N, T, 2)`` against ``true (N, T, 2)``.

    With ``groups (N,)`` (window ids), one sample is chosen per window for ADE (and one,
    perhaps another, for FDE), minimising the window's summed error, as Social GAN evaluates;
    without, each trajectory takes its own best."""
    if samples.ndim != 4:
        raise ValueError(f"best_of_k: expected samples of shape (K, N, T, 2), got "
                         f"{tuple(samples.shape)}")
    err = displacement_errors(samples, true[None])  # (K, N, T)
    xp = backend.get_array_module(err)
    a, f = err.mean(-1), err[..., -1]  # (K, N)
    n = err.shape[1]
    if groups is None:
        return float(a.min(0).mean()), float(f.min(0).mean())
    groups = xp.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"best_of_k: groups must have shape ({n},), got {tuple(groups.shape)}")
    onehot = window_matrix(groups)
    return float((a @ onehot).min(0).sum() / n), float((f @ onehot).min(0).sum() / n)
