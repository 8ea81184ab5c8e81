"""Gradient descent you can watch: optimizers walking down 2-D surfaces.

Two classic test surfaces, each a function of one parameter vector p = (x, y):

* an ill-conditioned bowl ``f = (x^2 + 25 y^2) / 2``: 25 times steeper across than along, so plain
  gradient descent zig-zags across the valley and crawls along it;
* Rosenbrock's banana ``f = (1 - x)^2 + 100 (y - x^2)^2``: a long curved valley, minimum at (1, 1).

On each, :func:`compare` runs ``optim.SGD``, SGD with momentum and ``optim.Adam`` from the same
start - the real optimizers, on a real deepwise parameter, with autograd's gradient - and
:func:`plot_descent` draws their trajectories over the contour lines. :func:`explain_step`
shows, with numbers, that one SGD step is exactly ``p <- p - lr * gradient``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import optim
from ..backend import to_numpy
from ..nn.parameter import Parameter
from ..tensor import Tensor
from ._common import figure, fmt, save_figure

__all__ = ["Surface", "SURFACES", "OPTIMIZERS", "descend", "compare", "plot_descent",
           "explain_step", "descent", "DescentResult"]


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: ``f`` on a deepwise tensor p (2,) (differentiable), ``f_np`` on NumPy
    grids (for the contours), a start, the minimum, the plotting window and contour levels."""

    name: str
    formula: str
    f: Callable[[Tensor], Tensor]
    f_np: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad_np: Callable[[float, float], tuple[float, float]]
    start: tuple[float, float]
    minimum: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    levels: tuple[float, ...]


def _bowl(p: Tensor) -> Tensor:
    return (p[0] ** 2 + 25 * p[1] ** 2) * 0.5


def _rosenbrock(p: Tensor) -> Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


SURFACES: dict[str, Surface] = {
    "bowl": Surface(
        "bowl", "f(x, y) = (x^2 + 25 y^2) / 2", _bowl,
        lambda x, y: 0.5 * (x ** 2 + 25 * y ** 2), lambda x, y: (x, 25 * y),
        start=(-4.5, 1.5), minimum=(0.0, 0.0), xlim=(-5.0, 1.5), ylim=(-2.0, 2.0),
        levels=tuple(np.geomspace(0.01, 60, 14))),
    "rosenbrock": Surface(
        "rosenbrock", "f(x, y) = (1 - x)^2 + 100 (y - x^2)^2", _rosenbrock,
        lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
        lambda x, y: (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
        start=(-1.5, 2.0), minimum=(1.0, 1.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0),
        levels=tuple(np.geomspace(0.05, 2000, 16))),
}

#: Per surface: label -> (optimizer class, its options); steps to run.
OPTIMIZERS: dict[str, dict[str, tuple[type, dict[str, Any]]]] = {
    "bowl": {"SGD": (optim.SGD, {"lr": 0.075}),
             "SGD + momentum": (optim.SGD, {"lr": 0.02, "momentum": 0.8}),
             "Adam": (optim.Adam, {"lr": 0.3})},
    "rosenbrock": {"SGD": (optim.SGD, {"lr": 1e-3}),
                   "SGD + momentum": (optim.SGD, {"lr": 5e-4, "momentum": 0.9}),
                   "Adam": (optim.Adam, {"lr": 0.05})},
}
STEPS = {"bowl": 60, "rosenbrock": 1000}


def descend(surface: str | Surface, opt_class: type = optim.SGD, steps: int = 100,
            start: tuple[float, float] | None = None, **options: Any) -> np.ndarray:
    """Run ``opt_class(options)`` on ``surface`` for ``steps`` steps; the path, (steps + 1, 2).

    Each step is the ordinary training loop on one parameter p = (x, y)::

        opt.zero_grad(); loss = f(p); loss.backward(); opt.step()
    """
    s = SURFACES[surface] if isinstance(surface, str) else surface
    p = Parameter(np.array(start or s.start, dtype=np.float64))
    opt = opt_class([p], **options)
    path = np.empty((steps + 1, 2))
    path[0] = p.data
    for i in range(steps):
        opt.zero_grad()
        s.f(p).backward()
        opt.step()
        path[i + 1] = p.data
        if not np.isfinite(to_numpy(p.data)).all():
            path[i + 2:] = np.nan
            break
    return path


@dataclass
class DescentResult:
    """Trajectories per surface and optimizer (``paths[surface][label]``, arrays (n, 2)), the
    distance of each end point to the minimum, and the step explanation text."""

    paths: dict[str, dict[str, np.ndarray]]
    distances: dict[str, dict[str, float]] = field(default_factory=dict)
    text: str = ""

    def __str__(self) -> str:
        return self.text


def compare(surfaces: tuple[str, ...] = ("bowl", "rosenbrock"),
            steps: dict[str, int] | int | None = None) -> DescentResult:
    """Run SGD, SGD with momentum and Adam (:data:`OPTIMIZERS`) on each surface."""
    paths: dict[str, dict[str, np.ndarray]] = {}
    dist: dict[str, dict[str, float]] = {}
    for name in surfaces:
        s = SURFACES[name]
        n = steps if isinstance(steps, int) else (steps or STEPS).get(name, STEPS[name])
        paths[name], dist[name] = {}, {}
        for label, (cls, opts) in OPTIMIZERS[name].items():
            path = descend(s, cls, n, **opts)
            paths[name][label] = path
            end = path[np.isfinite(path).all(axis=1)][-1]
            dist[name][label] = float(np.hypot(*(end - np.array(s.minimum))))
    return DescentResult(paths, dist)


def plot_descent(result: DescentResult, path: str | os.PathLike | None = None) -> Any:
    """Contour lines of each surface with every optimizer's trajectory; saves a PNG if ``path``.
    Returns the matplotlib Figure."""
    names = list(result.paths)
    fig = figure(figsize=(6.2 * len(names), 5.2))
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    colors = {"SGD": "#d62728", "SGD + momentum": "#1f77b4", "Adam": "#2ca02c"}
    for ax, name in zip(axes, names):
        s = SURFACES[name]
        gx, gy = np.meshgrid(np.linspace(*s.xlim, 300), np.linspace(*s.ylim, 300))
        z = s.f_np(gx, gy)
        ax.contourf(gx, gy, np.log10(z + 1e-3), levels=30, cmap="viridis", alpha=0.3)
        ax.contour(gx, gy, z, levels=list(s.levels), colors="#555555", linewidths=0.6)
        for k, (label, p) in enumerate(result.paths[name].items()):
            d = result.distances.get(name, {}).get(label)
            tag = f"{label} ({len(p) - 1} steps, ends {fmt(d)} from min)" if d is not None \
                else label
            style = ".-" if len(p) <= 200 else "-"  # long paths: a line, later ones below
            ax.plot(p[:, 0], p[:, 1], style, ms=2.5, lw=1.2, color=colors.get(label),
                    label=tag, zorder=10 - k)
        ax.plot(*s.start, "ko", ms=6, zorder=20)
        ax.plot(*s.minimum, "*", color="gold", ms=16, mec="k", label="minimum", zorder=20)
        ax.set_xlim(*s.xlim)
        ax.set_ylim(*s.ylim)
        ax.set_title(s.formula, fontsize=10)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Gradient descent: SGD, momentum and Adam from the same start")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def explain_step(surface: str = "bowl", lr: float = 0.05,
                 start: tuple[float, float] | None = None) -> str:
    """Text showing, with numbers, that one ``optim.SGD`` step is ``p - lr * grad``."""
    s = SURFACES[surface]
    p = Parameter(np.array(start or s.start, dtype=np.float64))
    loss = s.f(p)
    loss.backward()
    g = p.grad.data.copy()
    p0 = p.data.copy()
    by_hand = s.grad_np(*p0)
    opt = optim.SGD([p], lr=lr)
    opt.step()
    p1 = p.data.copy()
    expect = p0 - lr * g
    loss1 = float(s.f(Parameter(p1)).data)

    def v(a: Any) -> str:
        return f"({fmt(a[0])}, {fmt(a[1])})"

    same = np.allclose(p1, expect, rtol=0, atol=1e-12)
    return "\n".join([
        f"One step of gradient descent on {s.formula}",
        f"  start            p0 = {v(p0)}, f(p0) = {fmt(float(loss.data))}",
        f"  gradient         grad f(p0) = {v(g)}   (autograd; by hand {v(by_hand)})",
        f"  step             -lr * grad = -{fmt(lr)} * {v(g)} = {v(-lr * g)}",
        f"  p0 - lr * grad   = {v(expect)}",
        f"  optim.SGD gives  p1 = {v(p1)}   ({'the same' if same else 'DIFFERENT'})",
        f"  f(p1) = {fmt(loss1)} < f(p0) = {fmt(float(loss.data))}: the step is minus the "
        "gradient, the direction in which f falls fastest, scaled by the learning rate.",
    ])


def descent(out: str | os.PathLike | None = None, *, steps: dict[str, int] | int | None = None,
            print_fn: Callable[[str], Any] | None = print) -> DescentResult:
    """What ``deepwise explain descent`` runs: the step explanation, the comparison on both
    surfaces (end points' distance to the minimum), and the picture saved to ``out``."""
    result = compare(steps=steps)
    lines = [explain_step(), ""]
    for name, d in result.distances.items():
        n = len(next(iter(result.paths[name].values()))) - 1
        lines.append(f"{SURFACES[name].formula}, {n} steps from {SURFACES[name].start}:")
        for label, dist in d.items():
            cls, opts = OPTIMIZERS[name][label]
            o = ", ".join(f"{k}={v}" for k, v in opts.items())
            lines.append(f"  {label:<15} optim.{cls.__name__}({o}): ends {fmt(dist)} from the "
                         "minimum")
    if out is not None:
        plot_descent(result, out)
        lines.append(f"\nTrajectories drawn over the contour lines: {os.fspath(out)}")
    result.text = "\n".join(lines)
    if print_fn is not None:
        print_fn(result.text)
    return result
