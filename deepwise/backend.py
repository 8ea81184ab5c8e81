"""The array module, dtypes, the default dtype and the one seeded random generator.

Everything in deepwise computes on NumPy arrays (``xp``). A CuPy backend is a later step; when it
lands it is chosen here and nowhere else, so no op carries a device branch.
"""

from __future__ import annotations

import numpy as np

xp = np


def get_array_module(*arrays):
    """The array module (``numpy``, or ``cupy`` for device arrays) that ``arrays`` belong to.

    Ops take their array module from their inputs (``xp = get_array_module(x)``) and call
    ``xp.`` on tensor data, never ``np.`` directly, so one forward/backward serves both
    libraries (the pattern of Chainer and DeZero). Arrays that are not device arrays (NumPy
    arrays, Python scalars, None) count as NumPy's.
    """
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy

            return cupy
    return np

# dtypes, named as in PyTorch (``deepwise.float32`` ...); they are NumPy dtype objects, so
# ``t.dtype == deepwise.float32`` and ``np.zeros(3, dtype=deepwise.float32)`` both work.
float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


def get_default_dtype() -> np.dtype:
    """The floating dtype that new tensors get when none is asked for (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the floating dtype of new tensors (``float32``, or ``float64`` as gradcheck uses)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def is_floating(dtype) -> bool:
    """True for float16/32/64: only these tensors may require grad."""
    return np.dtype(dtype).kind == "f"


class _RNG:
    """Holder of deepwise's one random generator, so every draw is repeatable after manual_seed."""

    generator: np.random.Generator = np.random.default_rng()
    seed: int | None = None


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random draw in deepwise (initialisation, dropout, shuffling, ``randn`` ...).

    Returns the generator, as ``torch.manual_seed`` returns its generator.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _RNG.seed = int(seed)
    _RNG.generator = np.random.default_rng(int(seed))
    return _RNG.generator


def default_generator() -> np.random.Generator:
    """The generator that deepwise draws from (reseeded by :func:`manual_seed`)."""
    return _RNG.generator


def initial_seed() -> int | None:
    """The seed given to the last :func:`manual_seed`, or None if it was never called."""
    return _RNG.seed
