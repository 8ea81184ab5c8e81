"""``deepwise.kernels``: optional compiled kernels (numba) for passes NumPy makes in several sweeps.

Every op keeps its NumPy code as the readable reference; where a step of it is memory-bound and
NumPy needs several passes (a max-pool backward that rebuilds an argmax mask offset by offset, a
ReLU backward that writes a mask and then multiplies), a kernel here does the same arithmetic in
one pass of plain loops, compiled by numba. The op calls the kernel only when ``enabled(x, ...)``:

* numba is installed (``pip install deepwise[fast]``; librosa brings it too),
* it is not switched off (``DEEPWISE_NUMBA=0`` in the environment, or ``use_numba(False)``),
* every array is a NumPy array (CuPy arrays take the NumPy/CuPy path).

The tests run every op both ways and compare the results; the benchmarks report both.

Kernels are single-threaded (``nogil``, no ``parallel=``): on this project's 2-core machines the
element-wise passes are memory-bound, and one fused pass on one core measured faster than two
threads (ReLU backward on 3.2M floats: 3.6 ms on one thread, 5.1 ms on two, NumPy 9.2 ms);
BLAS keeps both cores for the GEMMs. ``cache=True`` stores the compiled code beside the source
(or in numba's user cache), so only a process's first call of a kernel pays the compile.

>>> from deepwise import kernels
>>> with kernels.use_numba(False):   # the NumPy reference path, whatever is installed
...     pass
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["available", "enabled", "use_numba", "jit"]

try:  # optional: numba compiles the kernels; without it every op takes its NumPy path
    import numba as _numba
except ImportError:  # pragma: no cover - depends on the environment
    _numba = None

_on = _numba is not None and os.environ.get("DEEPWISE_NUMBA", "1") != "0"


def available() -> bool:
    """True when numba is installed (whether or not the kernels are switched on)."""
    return _numba is not None


def enabled(*arrays: Any) -> bool:
    """True when the compiled kernels are on and every array given is a NumPy ndarray."""
    if not _on:
        return False
    for a in arrays:
        if type(a) is not np.ndarray:
            return False
    return True


@contextlib.contextmanager
def use_numba(flag: bool) -> Iterator[None]:
    """Switch the compiled kernels on (when numba is installed) or off inside a ``with`` block.

    Tests use it to run the same op through both paths; not thread-safe (a process-wide flag).
    """
    global _on
    old = _on
    _on = bool(flag) and _numba is not None
    try:
        yield
    finally:
        _on = old


def jit(fn: Callable) -> Callable:
    """``numba.njit(cache=True, nogil=True)`` when numba is installed; else ``fn`` unchanged
    (never called by the ops then: ``enabled()`` is False)."""
    if _numba is None:
        return fn
    return _numba.njit(cache=True, nogil=True)(fn)
