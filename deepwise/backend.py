"""The array module, devices, dtypes, the default dtype and the one seeded random generator.

Tensors on the CPU hold NumPy arrays; tensors on ``"cuda"`` hold the arrays of a device array
module - CuPy (``pip install deepwise[gpu]``), or, in the test suite, the fake device of
``tests/fake_device.py`` registered with :func:`use_device_module`. The device is chosen here and
nowhere else: ops take their array module from their inputs (``xp = get_array_module(x)``) and
call ``xp.`` on tensor data, so one forward and one backward serve both, with no device branch.

Rules kept in this file:

* importing deepwise never imports CuPy; the probe (:func:`cuda_is_available`) imports it inside
  ``try`` and asks ``cupy.cuda.is_available()``, never touching a device unguarded;
* the CPU path pays one module-global test per call (``_device_type is None``);
* random draws come from deepwise's one seeded NumPy generator on the host and are copied to the
  device (:func:`to_device`), so a seed gives the same numbers on every device (at the cost of a
  host-to-device copy per draw: dropout masks, ``randn(..., device="cuda")``, initialisation);
* NumPy calls that CuPy lacks get one helper here (:func:`scatter_add` for ``np.add.at``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

xp = np

# the "cuda" backend once activated: its array module and array type (None on CPU-only runs)
_device_module: Any = None
_device_type: Any = None
_device_scatter_add: Any = None
_registered = False  # True when the module came from use_device_module (tests/fake_device.py)


def get_array_module(*arrays: Any) -> Any:
    """The array module (``numpy``, or the device's, e.g. ``cupy``) that ``arrays`` belong to.

    Ops take their array module from their inputs (``xp = get_array_module(x)``) and call
    ``xp.`` on tensor data, never ``np.`` directly, so one forward/backward serves both
    libraries (the pattern of Chainer and DeZero). Arrays that are not device arrays (NumPy
    arrays, Python scalars, None) count as NumPy's; a Tensor counts by its data. Until a device
    is activated this is one test of a module global.
    """
    if _device_type is not None:
        for a in arrays:
            if isinstance(a, _device_type) or (
                    hasattr(a, "grad_fn") and isinstance(a.data, _device_type)):
                return _device_module
    return np


def use_device_module(module: Any, array_type: type | None = None) -> tuple[Any, Any]:
    """Register ``module`` (with arrays of ``array_type``) as the ``"cuda"`` backend.

    The hook the test suite uses to run everything on a fake device (``tests/fake_device.py``:
    NumPy arrays wrapped in a type of their own) on machines without a GPU. ``module`` must offer
    the part of NumPy's namespace the ops use, ``asarray`` (host -> device), ``asnumpy``
    (device -> host) and ``scatter_add(a, indices, values)`` (``cupyx.scatter_add``'s
    signature). ``use_device_module(None)`` unregisters it (the next "cuda" request probes
    CuPy again). Returns the previous ``(module, array_type)`` so a test can restore it.
    """
    global _device_module, _device_type, _device_scatter_add, _registered
    prev = (_device_module, _device_type) if _registered else (None, None)
    if module is None:
        _device_module = _device_type = _device_scatter_add = None
        _registered = False
        return prev
    if array_type is None:
        raise TypeError("use_device_module: pass the module's array type too")
    _device_module, _device_type = module, array_type
    _device_scatter_add = module.scatter_add
    _registered = True
    return prev


def _cupy() -> Any:
    """CuPy if it is installed and sees a CUDA device, else None (guarded: never raises)."""
    try:
        import cupy
    except Exception:  # noqa: BLE001 - not installed, or a broken CUDA install: no device
        return None
    try:
        return cupy if cupy.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a driver error is "no device", not a crash
        return None


def cuda_is_available() -> bool:
    """True when a "cuda" backend is at hand: a registered module, or CuPy with a device."""
    return _device_module is not None or _cupy() is not None


def cuda_device_count() -> int:
    """How many CUDA devices CuPy sees (1 for a registered module, 0 without a backend)."""
    if _registered:
        return 1
    cp = _cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001
        return 0


def device_module(where: str = "cuda") -> Any:
    """The ``"cuda"`` array module, activating CuPy on first use; ValueError naming ``where``
    (and what to install) when there is none."""
    global _device_module, _device_type, _device_scatter_add
    if _device_module is not None:
        return _device_module
    cp = _cupy()
    if cp is None:
        try:
            import cupy  # noqa: F401
            why = "CuPy is installed but sees no CUDA device"
        except Exception:  # noqa: BLE001
            why = "CuPy is not installed (pip install deepwise[gpu])"
        raise ValueError(f"{where}: device 'cuda' is not available: {why}; tensors and models "
                         "live on 'cpu'")
    import cupyx

    _device_module, _device_type, _device_scatter_add = cp, cp.ndarray, cupyx.scatter_add
    return cp


_GPU_NAMES = ("cuda", "mps", "xpu", "hip", "gpu")
_DTYPE_NAMES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")


class device:  # noqa: N801 - PyTorch's name
    """Where a tensor lives: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")`` or
    ``device("cuda", 0)`` (PyTorch's ``torch.device``: ``.type``, ``.index``, its repr).

    A device compares equal to its string (``x.device == "cuda"``; ``"cuda"`` and
    ``"cuda:0"`` are the same device, as only device 0 is used). Asking for ``"cuda"`` when no
    backend is at hand (no CuPy, no GPU) raises ValueError saying so, as does an unknown name.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:  # noqa: A002
        self.type, self.index = _parse(type, index, "device")

    @classmethod
    def _known(cls, type: str, index: int | None) -> device:  # noqa: A002
        d = object.__new__(cls)
        d.type, d.index = type, index
        return d

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = _STRINGS.get(other)
            if other is None:
                return False
        if not isinstance(other, device):
            return NotImplemented
        same_index = self.index is None or other.index is None or self.index == other.index
        return self.type == other.type and (same_index or self.type == "cpu")

    def __hash__(self) -> int:
        return hash(self.type)


CPU = device._known("cpu", None)
CUDA = device._known("cuda", 0)
_STRINGS = {"cpu": CPU, "cpu:0": CPU, "cuda": device._known("cuda", None), "cuda:0": CUDA}


def _parse(spec: Any, index: int | None, where: str) -> tuple[str, int | None]:
    """(type, index) of a device spec, checked; ValueError naming ``where`` for an unknown
    device, a GPU that is not at hand, or a CUDA index other than 0."""
    if isinstance(spec, device):
        spec, index = spec.type, spec.index if index is None else index
    elif isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        spec, index = "cuda", int(spec)  # PyTorch: an int is a CUDA device index
    elif not isinstance(spec, str):
        raise TypeError(f"{where}: expected a device ('cpu', 'cuda', 'cuda:0'), got "
                        f"{type(spec).__name__}")
    shown = spec if index is None else f"{spec}:{index}"
    name = spec
    if ":" in spec:
        name, _, idx = spec.partition(":")
        if not idx.isdigit() or index is not None:
            raise ValueError(f"{where}: invalid device string {spec!r} (expected 'cpu', 'cuda' "
                             "or 'cuda:0')")
        index = int(idx)
    if name == "cpu" and index in (None, 0):
        return "cpu", None
    if name == "cuda":
        if _device_module is None and _cupy() is None:
            raise ValueError(f"{where}: device {shown!r} is not available: no GPU backend "
                             "(deepwise computes on a GPU through CuPy: pip install "
                             "deepwise[gpu], on a machine with a CUDA device); tensors and "
                             "models live on 'cpu'")
        if index not in (None, 0):
            raise ValueError(f"{where}: device {shown!r}: deepwise uses cuda:0 only (choose the "
                             "GPU with CUDA_VISIBLE_DEVICES)")
        return "cuda", index
    if name in _GPU_NAMES:
        raise ValueError(f"{where}: device {shown!r} is not available: no GPU backend for "
                         f"{name!r} (deepwise supports 'cpu' and 'cuda')")
    hint = f"; {spec!r} names a dtype: pass deepwise.{spec}" if spec in _DTYPE_NAMES else ""
    raise ValueError(f"{where}: unknown device {shown!r} (expected 'cpu' or 'cuda'){hint}")


def as_device(spec: Any, where: str) -> device:
    """``spec`` (a str, an int, a device) checked and resolved to ``CPU`` or ``CUDA`` (the
    device backend is activated on the first CUDA request); ValueError naming ``where`` for an
    unknown device or one that is not at hand."""
    if spec is CPU or spec == "cpu":
        return CPU
    kind, _ = _parse(spec, None, where)
    if kind == "cpu":
        return CPU
    device_module(where)
    return CUDA


def module_for(spec: Any, where: str) -> Any:
    """The array module that makes arrays on the device ``spec`` names (NumPy for None or
    ``"cpu"``): creation functions allocate there directly, with no host copy."""
    if spec is None or as_device(spec, where) is CPU:
        return np
    return _device_module


def device_of(a: Any) -> device:
    """The device an array lives on (``CPU`` for NumPy arrays and numbers)."""
    return CUDA if is_device_array(a) else CPU


def move(a: Any, dev: device) -> Any:
    """``a`` on ``dev`` (``CPU`` or ``CUDA``), copied only when it is elsewhere."""
    return to_device(a) if dev is CUDA else to_numpy(a)


def is_device_array(a: Any) -> bool:
    """True for an array of the device module (a ``cupy.ndarray``, or the fake device's)."""
    return _device_type is not None and isinstance(a, _device_type)


def to_device(a: Any, where: str = "cuda") -> Any:
    """``a`` (an array or number) as a device array (copied from the host unless it is one)."""
    if is_device_array(a):
        return a
    return device_module(where).asarray(a)


def to_numpy(a: Any) -> Any:
    """``a`` as a host NumPy array (copied from the device when it is a device array); NumPy
    arrays and other values pass as they are. Tools that read tensor data (explain, io,
    printing) use it."""
    if is_device_array(a):
        return _device_module.asnumpy(a)
    return a


def is_array(a: Any) -> bool:
    """True for a NumPy array or a device array (what ``isinstance(a, np.ndarray)`` meant before
    there were devices)."""
    return isinstance(a, np.ndarray) or is_device_array(a)


def add_reduceat(a: Any, starts: Any, axis: int = 0) -> Any:
    """``np.add.reduceat(a, starts, axis)``: sums of the runs that begin at ``starts`` (sorted,
    distinct). On a device without ``add.reduceat`` it is a cumulative sum differenced at the
    run boundaries (equal up to rounding)."""
    if not is_device_array(a):
        return np.add.reduceat(a, starts, axis=axis)
    xp = _device_module
    reduceat = getattr(xp.add, "reduceat", None)
    if reduceat is not None:
        return reduceat(a, starts, axis=axis)
    c = xp.cumsum(a, axis=axis, dtype=a.dtype)
    ends = xp.concatenate([starts[1:], xp.asarray([a.shape[axis]], dtype=starts.dtype)]) - 1
    hi = xp.take(c, ends, axis=axis)
    lo = xp.take(c, starts - 1, axis=axis)  # starts[0] == 0: its lo is dropped below
    first = [slice(None)] * a.ndim
    first[axis] = slice(0, 1)
    lo[tuple(first)] = 0
    return hi - lo


def scatter_add(a: Any, indices: Any, values: Any) -> None:
    """``a[indices] += values`` in place, repeated indices summed: ``np.add.at`` on the host,
    ``cupyx.scatter_add`` (or the registered module's ``scatter_add``) on the device."""
    if is_device_array(a):
        _device_scatter_add(a, indices, values)
    else:
        np.add.at(a, indices, values)


def on_device_of(draw: Any, like: Any) -> Any:
    """``draw`` (a host array from deepwise's generator) on the device of ``like``: the one rule
    for random numbers (drawn on the host, then copied), so a seed repeats on every device."""
    return to_device(draw) if is_device_array(like) else draw


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
