"""The playground's 2-D data sets and input features (data preparation, on NumPy).

Points lie in the square [-6, 6] x [-6, 6], as in TensorFlow Playground. Classification sets
label each point 0 or 1; the regression set gives it a value in [-1, 1].

=========== ============================================================================
``circle``  a disc of one class inside a ring of the other (not linearly separable)
``xor``     the four quadrants, alternating (needs x1*x2 or a hidden layer)
``gauss``   two Gaussian blobs (linearly separable)
``spiral``  two interleaved spirals (the hard one)
``plane``   regression: a tilted plane, y = (x1 + x2) / 12
``bumps``   regression: two Gaussian bumps of opposite sign
=========== ============================================================================

``make(name, n, noise, train_ratio, seed)`` returns the points and targets split into a train
and a test set; ``features(points, names)`` turns (N, 2) points into the network's inputs
(``x1``, ``x2``, ``x1^2``, ``x2^2``, ``x1*x2``, ``sin(x1)``, ``sin(x2)``). Both are pure functions
of their arguments, so a script that calls them with the same arguments gets the same arrays.

>>> x_tr, y_tr, x_te, y_te = make("spiral", n=200, noise=0.1, train_ratio=0.5, seed=0)
>>> x_tr.shape, y_tr.shape, features(x_tr, ["x1", "x1*x2"]).shape
((100, 2), (100, 1), (100, 2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["CLASSIFICATION", "REGRESSION", "DATASETS", "FEATURES", "RADIUS", "make",
           "features", "is_regression"]

RADIUS = 6.0  # the points and the pictures cover [-RADIUS, RADIUS]^2


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r_max = 5.0
    half = n // 2
    r = np.concatenate([rng.uniform(0.0, 0.5 * r_max, half),
                        rng.uniform(0.7 * r_max, r_max, n - half)])
    angle = rng.uniform(0.0, 2 * np.pi, n)
    pts = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    pts += rng.normal(0.0, noise * r_max, pts.shape)
    # the label is the region the point was drawn from, so noise puts points on the wrong side
    label = np.concatenate([np.ones(half), np.zeros(n - half)])
    return pts, label


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts = rng.uniform(-5.0, 5.0, (n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)  # a small margin around the axes
    label = (pts[:, 0] * pts[:, 1] > 0).astype(np.float64)
    pts += rng.normal(0.0, noise * 5.0, pts.shape)
    return pts, label


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    std = 0.5 + 4.0 * noise
    pts = np.concatenate([rng.normal(2.0, std, (half, 2)), rng.normal(-2.0, std, (n - half, 2))])
    label = np.concatenate([np.ones(half), np.zeros(n - half)])
    return pts, label


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    parts, labels = [], []
    for k, count in enumerate((half, n - half)):
        t = np.linspace(0.0, 1.0, count, endpoint=False)
        r = 5.0 * t
        angle = 1.75 * t * 2 * np.pi + k * np.pi
        p = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        parts.append(p + rng.normal(0.0, noise * 2.0, p.shape))
        labels.append(np.full(count, 1.0 - k))
    return np.concatenate(parts), np.concatenate(labels)


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts = rng.uniform(-RADIUS, RADIUS, (n, 2))
    y = (pts[:, 0] + pts[:, 1]) / (2 * RADIUS)
    return pts, np.clip(y + rng.normal(0.0, noise, n), -1.0, 1.0)


def _bumps(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pts = rng.uniform(-RADIUS, RADIUS, (n, 2))

    def bump(cx: float, cy: float) -> np.ndarray:
        return np.exp(-((pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2) / 8.0)

    y = bump(-2.5, 2.5) - bump(2.5, -2.5)
    return pts, np.clip(y + rng.normal(0.0, noise, n), -1.0, 1.0)


CLASSIFICATION: dict[str, Callable] = {"circle": _circle, "xor": _xor, "gauss": _gauss,
                                       "spiral": _spiral}
REGRESSION: dict[str, Callable] = {"plane": _plane, "bumps": _bumps}
DATASETS = (*CLASSIFICATION, *REGRESSION)

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1^2": lambda a, b: a * a,
    "x2^2": lambda a, b: b * b,
    "x1*x2": lambda a, b: a * b,
    "sin(x1)": lambda a, b: np.sin(a),
    "sin(x2)": lambda a, b: np.sin(b),
}


def is_regression(name: str) -> bool:
    """True for the regression sets (targets in [-1, 1], mean squared error)."""
    return name in REGRESSION


def make(name: str, n: int = 400, noise: float = 0.0, train_ratio: float = 0.5, seed: int = 0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: float32 points (N, 2) and targets (N, 1).

    ``noise``: 0 to 0.5 (a fraction of the data's scale); ``train_ratio``: the fraction of the
    ``n`` points used for training (the rest is the test set), the split drawn at random.
    """
    gens = {**CLASSIFICATION, **REGRESSION}
    if name not in gens:
        raise ValueError(f"playground.datasets.make: unknown data set {name!r}; "
                         f"known: {list(DATASETS)}")
    if not isinstance(n, (int, np.integer)) or n < 4:
        raise ValueError(f"playground.datasets.make: n must be an int >= 4, got {n!r}")
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"playground.datasets.make: noise must be in [0, 0.5], got {noise}")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"playground.datasets.make: train_ratio must be in (0, 1), got "
                         f"{train_ratio}")
    rng = np.random.default_rng(seed)
    pts, y = gens[name](int(n), float(noise), rng)
    pts = np.clip(pts, -RADIUS, RADIUS)
    order = rng.permutation(len(pts))
    n_train = min(max(1, round(train_ratio * len(pts))), len(pts) - 1)
    tr, te = order[:n_train], order[n_train:]
    x, t = pts.astype(np.float32), y.astype(np.float32).reshape(-1, 1)
    return x[tr], t[tr], x[te], t[te]


def features(points: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The network's inputs: one column per feature name, computed from (N, 2) points."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"playground.datasets.features: expected points (N, 2), got "
                         f"{pts.shape}")
    unknown = [f for f in names if f not in FEATURES]
    if unknown or not names:
        raise ValueError(f"playground.datasets.features: unknown or no feature names {unknown}; "
                         f"known: {list(FEATURES)}")
    a, b = pts[:, 0], pts[:, 1]
    return np.stack([FEATURES[f](a, b) for f in names], axis=1).astype(np.float32)
