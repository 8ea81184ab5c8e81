"""``deepwise.kernels``: optional compiled kernels (numba) for passes NumPy makes in several sweeps.

Every op keeps its NumPy code as the readable reference; where a step of it is memory-bound and
NumPy needs several passes (a max-pool backward that rebuilds an argmax mask offset by offset, a
ReLU backward that writes a mask and then multiplies), a kernel here does the same arithmetic in
one pass of plain loops, compiled by numba. The op calls the kernel only when ``enabled(x, ...)``:

* numba is installed (``pip install deepwise[fast]``; librosa brings it too),
* it is not switched off (``DEEPWISE_NUMBA=0`` in the environment, or ``use_numba(False)``),
* every array is a NumPy array (CuPy arrays take the NumPy/CuPy path).

The tests run every op both ways and compare the results; the benchmarks report both.

How they are compiled:

* single-threaded (``nogil``, no ``parallel=``): on this project's 2-core machines the
  element-wise passes are memory-bound, and one fused pass on one core measured faster than two
  threads (ReLU backward on 3.2M floats: 3.6 ms on one thread, 5.1 ms on two, NumPy 9.2 ms);
  BLAS keeps both cores for the GEMMs;
* ``error_model="numpy"``: a float division by zero gives inf/NaN as in NumPy, and without
  numba's per-division check LLVM vectorises the loops (Adam over 269k float32 parameters
  1.43 -> 0.28 ms);
* on a kernel's first call: importing numba costs ~0.45 s, and ``import deepwise`` does not pay
  it; ``cache=True`` stores the compiled code beside the source (or in numba's user cache), so a
  machine compiles each kernel once (~0.3-6 s per module) and later processes load it.

>>> from deepwise import kernels
>>> with kernels.use_numba(False):   # the NumPy reference path, whatever is installed
...     pass
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["available", "enabled", "use_numba", "jit"]

# optional: numba compiles the kernels; without it every op takes its NumPy path
_available = importlib.util.find_spec("numba") is not None
_on = _available and os.environ.get("DEEPWISE_NUMBA", "1") != "0"


def available() -> bool:
    """True when numba is installed (whether or not the kernels are switched on)."""
    return _available


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
    _on = bool(flag) and _available
    try:
        yield
    finally:
        _on = old


class _Kernel:
    """A kernel compiled on its first call (importing numba costs ~0.45 s, paid only by a
    process that runs a kernel). Compiling one kernel first turns every not-yet-compiled kernel
    of its module into a numba dispatcher in the module's globals, so kernels that call each
    other compile together."""

    def __init__(self, fn: Callable, options: dict) -> None:
        functools.update_wrapper(self, fn)
        self.py_func, self.dispatcher = fn, None
        self.options = {"cache": True, "nogil": True, "error_model": "numpy", **options}

    def __call__(self, *args: Any) -> Any:
        d = self.dispatcher
        if d is None:
            d = self._compile()
        return d(*args)

    def _compile(self) -> Callable:
        import numba

        module_globals = self.py_func.__globals__
        for name, value in list(module_globals.items()):
            if isinstance(value, _Kernel):
                if value.dispatcher is None:
                    value.dispatcher = numba.njit(**value.options)(value.py_func)
                module_globals[name] = value.dispatcher
        if self.dispatcher is None:  # not reachable by a global name: compile it alone
            self.dispatcher = numba.njit(**self.options)(self.py_func)
        return self.dispatcher


def jit(fn: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, nogil=True, error_model="numpy", **options)``, compiled on the
    kernel's first call: ``@jit`` or ``@jit(fastmath=True)``. Without numba the function is
    returned unchanged (the ops never call it then: ``enabled()`` is False)."""
    if fn is None:
        return lambda f: jit(f, **options)
    if not _available:
        return fn
    return _Kernel(fn, options)
