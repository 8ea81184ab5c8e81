"""What the page may ask for: one :class:`Config` per session, every field checked.

The page sends a JSON object; :meth:`Config.from_dict` accepts only the known keys, each of the
right type and in its range, and raises :class:`ConfigError` naming the field, what it expected
and what it got (the server answers it as a JSON error with status 400). Nothing from the page is
executed: the values only choose among the options below and set numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import datasets

__all__ = ["Config", "ConfigError", "ACTIVATIONS", "OPTIMIZERS", "LIMITS", "DATASETS", "DIGITS",
           "options"]

# activation name -> the nn layer that computes it
ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Identity"}
OPTIMIZERS = ("sgd", "momentum", "adam")
MAX_LAYERS, MAX_NEURONS = 6, 8
# the 8x8 digits (deepwise.data.datasets.Digits): a small CNN, hidden = channels per conv layer
DIGITS, MAX_CONV = "digits", 3
DATASETS = (*datasets.DATASETS, DIGITS)

# field -> (low, high) for the numbers
LIMITS: dict[str, tuple[float, float]] = {
    "n_samples": (20, 1000), "noise": (0.0, 0.5), "train_ratio": (0.1, 0.9),
    "batch_size": (1, 1000), "lr": (1e-5, 10.0), "l1": (0.0, 1.0), "l2": (0.0, 1.0),
    "dropout": (0.0, 0.9), "seed": (0, 2**31 - 1), "speed": (1, 1000),
}


class ConfigError(ValueError):
    """A request asked for something the playground does not offer (the message says what)."""


@dataclass(frozen=True)
class Config:
    """One network, its data and its training, as chosen on the page.

    ``speed``: optimizer steps per second while playing (the server's training thread keeps to
    it). ``hidden``: neurons per hidden layer (0 to 6 layers of 1 to 8 neurons).
    """

    dataset: str = "circle"
    n_samples: int = 400
    noise: float = 0.0
    train_ratio: float = 0.5
    batch_size: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    lr: float = 0.03
    optimizer: str = "sgd"
    l1: float = 0.0
    l2: float = 0.0
    dropout: float = 0.0
    seed: int = 0
    speed: int = 100

    @property
    def regression(self) -> bool:
        return datasets.is_regression(self.dataset)

    @property
    def digits(self) -> bool:
        """The 8x8 digits: a CNN (``hidden``: channels of its conv layers; ``features``,
        ``n_samples``, ``noise`` and ``train_ratio`` do not apply: the set has its own split)."""
        return self.dataset == DIGITS

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["features"], d["hidden"] = list(self.features), list(self.hidden)
        return d

    def replace(self, changes: dict[str, Any]) -> Config:
        """This config with ``changes`` (a partial dict, checked as in :meth:`from_dict`)."""
        return Config.from_dict({**self.to_dict(), **_as_object(changes)})

    @classmethod
    def from_dict(cls, d: Any) -> Config:
        d = _as_object(d)
        known = [f.name for f in dataclasses.fields(cls)]
        extra = sorted(set(d) - set(known))
        if extra:
            raise ConfigError(f"config: unknown field(s) {extra}; known: {known}")
        base = cls()
        v = {k: d.get(k, getattr(base, k)) for k in known}
        out: dict[str, Any] = {}
        out["dataset"] = _choice("dataset", v["dataset"], DATASETS)
        out["activation"] = _choice("activation", v["activation"], tuple(ACTIVATIONS))
        out["optimizer"] = _choice("optimizer", v["optimizer"], OPTIMIZERS)
        for k in ("n_samples", "batch_size", "seed", "speed"):
            out[k] = _int(k, v[k], *LIMITS[k])
        for k in ("noise", "train_ratio", "lr", "l1", "l2", "dropout"):
            out[k] = _float(k, v[k], *LIMITS[k])
        feats = v["features"]
        if not isinstance(feats, (list, tuple)) or not 1 <= len(feats) <= len(datasets.FEATURES):
            raise ConfigError(f"config.features: expected a list of 1 to "
                              f"{len(datasets.FEATURES)} names from {list(datasets.FEATURES)}, "
                              f"got {_show(feats)}")
        for i, f in enumerate(feats):
            _choice(f"features[{i}]", f, tuple(datasets.FEATURES))
        if len(set(feats)) != len(feats):
            raise ConfigError(f"config.features: a feature is named twice in {list(feats)}")
        # the page's order does not matter: the inputs always come in FEATURES order
        out["features"] = tuple(f for f in datasets.FEATURES if f in feats)
        hidden = v["hidden"]
        if not isinstance(hidden, (list, tuple)) or len(hidden) > MAX_LAYERS:
            raise ConfigError(f"config.hidden: expected a list of at most {MAX_LAYERS} layer "
                              f"widths, got {_show(hidden)}")
        out["hidden"] = tuple(_int(f"hidden[{i}]", h, 1, MAX_NEURONS)
                              for i, h in enumerate(hidden))
        if out["dataset"] == DIGITS and len(hidden) > MAX_CONV:
            raise ConfigError(f"config.hidden: the digits' CNN takes at most {MAX_CONV} conv "
                              f"layers (8x8 -> 4x4 -> 2x2 -> 1x1), got {len(hidden)}")
        return cls(**out)


def _as_object(d: Any) -> dict:
    if not isinstance(d, dict):
        raise ConfigError(f"config: expected a JSON object, got {type(d).__name__}")
    return d


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"config.{name}: expected one of {list(allowed)}, got {_show(value)}")
    return value


def _int(name: str, value: Any, low: float, high: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"config.{name}: expected an int from {low:g} to {high:g}, got "
                          f"{_show(value)}")
    return int(value)


def _float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"config.{name}: expected a number from {low:g} to {high:g}, got "
                          f"{_show(value)}")
    return float(value)


def options() -> dict[str, Any]:
    """What the page offers (sent to it once, so the page and the server agree)."""
    previews = {}
    for name in datasets.DATASETS:  # a few points of each set, for the page's buttons
        x, y, _, _ = datasets.make(name, n=160, noise=0.0, train_ratio=0.75, seed=0)
        previews[name] = np.round(np.hstack([x, y]).astype(np.float64), 2).tolist()
    return {"datasets": list(DATASETS), "max_conv": MAX_CONV,
            "regression": list(datasets.REGRESSION),
            "features": list(datasets.FEATURES), "activations": list(ACTIVATIONS),
            "optimizers": list(OPTIMIZERS), "max_layers": MAX_LAYERS,
            "max_neurons": MAX_NEURONS, "limits": LIMITS, "default": Config().to_dict(),
            "radius": datasets.RADIUS, "previews": previews}
