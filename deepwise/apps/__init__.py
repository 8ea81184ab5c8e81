"""The applications of deepwise, one module (or small package) per application, named by it.

Each holds what is specific to its application and nothing else: its data preparation, its
recipe (train / evaluate / predict), its checkpoint format and its commands
(``add_commands(subparsers)``, called by ``deepwise/cli.py``). Layers, losses, metrics and
architectures that another application could use live in the library below
(``nn``, ``data``, ``train``, ``models``).

======================== ==================================================================
``image_classification`` ``deepwise demo``, ``train mlp|cnn``, ``evaluate`` (digits, MNIST,
                         Fashion-MNIST)
``text_generation``      ``train char-rnn``, ``generate`` (a character-level LSTM)
``sentiment``            ``train sentiment``, ``predict`` (a Bi-GRU sentence classifier)
``translation``          ``train translation``, ``translate`` (English to French: GRU,
                         GRU with attention, Transformer)
``speech``               ``train speech``, ``transcribe`` (spoken digits; digit strings
                         with CTC)
``faces``                ``train faces``, ``embed``, ``verify`` (identification and
                         verification on ORL faces)
``trajectory``           ``train trajectory``, ``forecast`` (pedestrian motion, ETH/UCY)
``detection``            ``train detector`` (CenterNet on camera frames rendered from
                         ETH/UCY)
``driving``              ``drive`` (cameras -> detections -> tracks -> forecasts)
``autoencoder``          ``train autoencoder``, ``sample`` (autoencoders, denoising, VAEs,
                         few labels)
======================== ==================================================================
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ._commands import USER_ERRORS, CommandError, register, train_parsers

__all__ = ["CommandError", "USER_ERRORS", "register", "train_parsers", "modules"]

# the order in which the applications' commands appear in ``deepwise --help``; an application
# not named here (a new one) follows in alphabetical order
_ORDER = ("image_classification", "text_generation", "sentiment", "translation", "speech",
          "faces", "trajectory", "detection", "driving", "autoencoder")


def modules() -> list[ModuleType]:
    """Every application module that defines ``add_commands``, in ``deepwise --help`` order."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    found = [importlib.import_module(f"{__name__}.{n}") for n in names]
    return [m for m in found if hasattr(m, "add_commands")]
