"""GradientFlow: watch the gradients layer by layer while a model trains, and say when they
vanish or explode.

Backpropagation multiplies the gradient by one local derivative per layer on its way to the input.
With a sigmoid (derivative at most 1/4) and small weights the product shrinks at every layer: the
layers near the input get almost no gradient and stop learning ("vanishing gradients"). With large
weights it grows instead ("exploding"). The callback records, per layer (the module that holds
the parameters):

* ``grad_norm``: ||dL/dW|| over the layer's parameters,
* ``weight_norm``: ||W||,
* ``update_ratio``: ||W_after - W_before|| / ||W|| for the optimizer's step (about 1e-3 is the
  usual healthy size; 1e-1 is too big a step, 1e-6 too small),

every ``every`` steps (default: on the first batch of each epoch), and warns
(:class:`GradientWarning`) naming the layer.

>>> from deepwise import explain
>>> flow = explain.GradientFlow()
>>> fit(model, loader, loss=..., optimizer=..., callbacks=[flow])          # doctest: +SKIP
>>> flow.plot("gradient_flow.png")                                         # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..train.callbacks import Callback
from ._common import figure, fmt, save_figure

__all__ = ["GradientFlow", "GradientWarning"]


class GradientWarning(UserWarning):
    """Gradients vanish or explode (issued by :class:`GradientFlow`)."""


def _layers(model: Any) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Parameters grouped by the module that holds them, in registration order (input first)."""
    groups: dict[str, list[tuple[str, Any]]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner = name.rpartition(".")[0] or "model"
        groups.setdefault(owner, []).append((name, p))
    return list(groups.items())


def _norm(arrays: list[np.ndarray]) -> float:
    return math.sqrt(sum(float(np.vdot(h, h).real) for h in map(to_numpy, arrays)))


class GradientFlow(Callback):
    """A ``train.fit`` callback recording per-layer gradient norms, weight norms and update/weight
    ratios, and warning about vanishing or exploding gradients.

    Args:
        every: measure every ``every`` optimizer steps; None: once per epoch (its first batch).
        vanishing_ratio: warn when ||grad|| of the first layer / ||grad|| of the last layer falls
            below this (1e-3: the input layer learns a thousand times slower than the output).
        exploding_norm: warn when a layer's gradient norm exceeds this.
        growth: warn when a layer's gradient norm grows by this factor over its first
            measurement.
        model: the model, for use outside ``fit`` (``fit`` sets it).

    After training: ``layer_names``, ``steps``, ``epochs`` and the arrays ``grad_norms``,
    ``weight_norms``, ``update_ratios`` (measurements x layers); ``messages`` holds the warnings.
    Outside ``fit``: call ``before_step()`` before ``optimizer.step()`` and ``after_step()``
    after it (or ``record()`` alone, after backward, for gradient and weight norms only).
    """

    def __init__(self, every: int | None = None, *, vanishing_ratio: float = 1e-3,
                 exploding_norm: float = 1e3, growth: float = 1e3, model: Any = None,
                 warn: bool = True) -> None:
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"GradientFlow: every must be a positive int or None, got {every!r}")
        self.every, self.vanishing_ratio = every, float(vanishing_ratio)
        self.exploding_norm, self.growth, self.warn = float(exploding_norm), float(growth), warn
        if model is not None:
            self.model = model
        self.layer_names: list[str] = []
        self.steps: list[int] = []
        self.epochs: list[int] = []
        self._grad: list[np.ndarray] = []
        self._weight: list[np.ndarray] = []
        self._ratio: list[np.ndarray] = []
        self.messages: list[str] = []
        self._warned: set[str] = set()
        self._step = 0
        self._epoch = 0
        self._before: dict[str, list[np.ndarray]] | None = None

    # ---- the data --------------------------------------------------------------------------
    @property
    def grad_norms(self) -> np.ndarray:
        return np.array(self._grad).reshape(len(self._grad), len(self.layer_names))

    @property
    def weight_norms(self) -> np.ndarray:
        return np.array(self._weight).reshape(len(self._weight), len(self.layer_names))

    @property
    def update_ratios(self) -> np.ndarray:
        return np.array(self._ratio).reshape(len(self._ratio), len(self.layer_names))

    # ---- fit's hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._step = int(self.params.get("initial_epoch", 0) or 0) * (self.params.get("steps")
                                                                      or 0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def _due(self, batch: int) -> bool:
        return batch == 0 if self.every is None else self._step % self.every == 0

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._due(batch):
            self.before_step()

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._before is not None:
            self.after_step()
        self._step += 1

    # ---- measuring -------------------------------------------------------------------------
    def before_step(self) -> None:
        """Remember the weights before the optimizer's step (for the update ratio)."""
        self._before = {owner: [p.data.copy() for _, p in ps] for owner, ps in
                        _layers(self.model)}

    def after_step(self) -> None:
        """Measure after ``optimizer.step()`` (gradients are still in ``.grad``)."""
        self.record()

    def record(self) -> None:
        """Measure now: gradient norms from ``.grad``, weight norms, and the update ratio if
        ``before_step()`` ran; then check for vanishing/exploding gradients."""
        if self.model is None:
            raise RuntimeError("GradientFlow: no model (pass it to fit, or GradientFlow(model=))")
        groups = _layers(self.model)
        names = [owner for owner, _ in groups]
        if not self.layer_names:
            self.layer_names = names
        elif names != self.layer_names:
            raise RuntimeError(f"GradientFlow: the model's layers changed from "
                               f"{self.layer_names} to {names}")
        before = self._before
        self._before = None
        g_row, w_row, r_row = [], [], []
        for owner, ps in groups:
            grads = [p.grad.data for _, p in ps if p.grad is not None]
            g_row.append(_norm(grads) if grads else np.nan)
            w = _norm([p.data for _, p in ps])
            w_row.append(w)
            if before is not None and owner in before:
                upd = _norm([p.data - b for (_, p), b in zip(ps, before[owner])])
                r_row.append(upd / w if w > 0 else np.nan)
            else:
                r_row.append(np.nan)
        self.steps.append(self._step)
        self.epochs.append(self._epoch)
        self._grad.append(np.array(g_row))
        self._weight.append(np.array(w_row))
        self._ratio.append(np.array(r_row))
        self._check()

    # ---- diagnosis -------------------------------------------------------------------------
    def _say(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        self.messages.append(message)
        if self.warn:
            warnings.warn(message, GradientWarning, stacklevel=4)

    def _check(self) -> None:
        g = self._grad[-1]
        names = self.layer_names
        where = f"step {self.steps[-1]} (epoch {self.epochs[-1]})"
        bad = [n for n, v in zip(names, g) if not np.isnan(v) and not np.isfinite(v)]
        for n in bad:
            self._say(f"nonfinite:{n}", f"GradientFlow: the gradient of {n} is NaN/Inf at "
                      f"{where}. Find the op that made it with `with explain.detect_anomaly():`.")
        ok = [(n, v) for n, v in zip(names, g) if np.isfinite(v)]
        if len(ok) >= 2 and ok[-1][1] > 0:
            (first, g0), (last, g1) = ok[0], ok[-1]
            ratio = g0 / g1
            if ratio < self.vanishing_ratio:
                start = next((n for n, v in ok if v >= self.vanishing_ratio * g1), last)
                trail = ", ".join(f"{n} {v:.1e}" for n, v in ok)
                self._say("vanishing", (
                    f"GradientFlow: vanishing gradients at {where}: the gradient norm falls from "
                    f"{fmt(g1)} at the last layer ({last}) to {fmt(g0)} at the first ({first}), "
                    f"a ratio of {ratio:.1e} (< {self.vanishing_ratio:g}); the layers before "
                    f"{start} barely learn. Per layer, input to output: {trail}. Remedies: ReLU "
                    "or GELU instead of sigmoid/tanh, Kaiming init (nn.init.kaiming_normal_), "
                    "normalization layers, residual connections, or fewer layers."))
        first_g = self._grad[0]
        for k, (n, v) in enumerate(zip(names, g)):
            if not np.isfinite(v):
                continue
            if v > self.exploding_norm:
                self._say(f"exploding:{n}", (
                    f"GradientFlow: exploding gradients at {where}: the gradient norm of {n} is "
                    f"{fmt(v)} (> {self.exploding_norm:g}). Remedies: clip with "
                    "nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0), a lower learning "
                    "rate, a smaller init scale, normalization layers."))
            elif (len(self._grad) > 1 and np.isfinite(first_g[k]) and first_g[k] > 0
                  and v > self.growth * first_g[k]):
                self._say(f"growing:{n}", (
                    f"GradientFlow: exploding gradients at {where}: the gradient norm of {n} grew "
                    f"x{v / first_g[k]:.1e} since step {self.steps[0]} ({fmt(first_g[k])} -> "
                    f"{fmt(v)}). Remedies: clip with nn.utils.clip_grad_norm_(model.parameters(), "
                    "max_norm=1.0), a lower learning rate, normalization layers."))

    # ---- showing ---------------------------------------------------------------------------
    def __str__(self) -> str:
        if not self._grad:
            return "GradientFlow: nothing recorded yet"
        g, w, r = self._grad[-1], self._weight[-1], self._ratio[-1]
        width = max(len(n) for n in self.layer_names)
        lines = [f"Gradient flow at step {self.steps[-1]} (epoch {self.epochs[-1]}), input "
                 "layer first:", f"{'layer':<{width}}  {'|grad|':>10}  {'|W|':>10}  "
                 f"{'update/|W|':>10}"]
        lines += [f"{n:<{width}}  {gv:>10.3e}  {wv:>10.3e}  {rv:>10.3e}"
                  for n, gv, wv, rv in zip(self.layer_names, g, w, r)]
        lines += [f"warning: {m}" for m in self.messages]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike | None = None, fig: Any = None) -> Any:
        """Draw the gradient norm per layer (first, middle and last measurement), the
        update/weight ratio per layer, and each layer's gradient norm over training. Saves a PNG
        (or SVG/PDF by extension) when ``path`` is given; returns the matplotlib Figure."""
        if not self._grad:
            raise RuntimeError("GradientFlow.plot: nothing recorded yet (train with the callback, "
                               "or call record())")
        fig = fig or figure(figsize=(13, 4.2))
        ax1, ax2, ax3 = fig.subplots(1, 3)
        g, r = self.grad_norms, self.update_ratios
        x = np.arange(len(self.layer_names))
        picks = sorted({0, len(g) // 2, len(g) - 1})
        cmap = _cmap()
        for k, i in enumerate(picks):
            color = cmap(k / max(len(picks) - 1, 1))
            label = f"step {self.steps[i]}"
            ax1.semilogy(x, np.where(g[i] > 0, g[i], np.nan), "o-", color=color, label=label)
            if np.isfinite(r[i]).any():
                ax2.semilogy(x, np.where(r[i] > 0, r[i], np.nan), "o-", color=color, label=label)
        ax2.axhline(1e-3, color="gray", ls="--", lw=1, label="1e-3 (rule of thumb)")
        for ax, title in ((ax1, "gradient norm per layer"), (ax2, "update / weight per layer")):
            ax.set_xticks(x)
            ax.set_xticklabels(self.layer_names, rotation=60, ha="right", fontsize=7)
            ax.set_xlabel("layer (input -> output)")
            ax.set_title(title)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        show = np.unique(np.linspace(0, len(self.layer_names) - 1, min(8, len(x))).round()
                         .astype(int))
        for j in show:
            col = g[:, j]
            ax3.semilogy(self.steps, np.where(col > 0, col, np.nan), "-",
                         color=cmap(j / max(len(x) - 1, 1)), label=self.layer_names[j])
        ax3.set_xlabel("step")
        ax3.set_title("gradient norm over training")
        ax3.legend(fontsize=7)
        ax3.grid(alpha=0.3)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path)
        return fig


def _cmap() -> Any:
    from matplotlib import colormaps
    return colormaps["viridis"]
