"""A fake "cuda" device for machines without a GPU: NumPy arrays wrapped in a type of their own.

``register()`` hands this module to ``deepwise.backend.use_device_module`` as the "cuda"
backend, so ``x.to("cuda")``, ``model.cuda()`` and every op run on :class:`FakeArray` data.
The wrapper behaves as CuPy does where it matters for portability, so a test that passes here
has no host/device slip that a real GPU would trip over:

* a FakeArray is not an ``ndarray`` (nor a subclass); ``np.asarray(a)`` / ``np.exp(a)`` raise
  TypeError, as CuPy's "Implicit conversion to a NumPy array is not allowed" does: a stray
  ``np.`` call on device data fails loudly;
* arithmetic or a module function that mixes a FakeArray with a host ``ndarray`` raises
  TypeError (``asarray``/``array`` are the only doors from the host: a copy, as in CuPy);
* reductions return 0-d arrays, not NumPy scalars (``float(a)``, ``a.item()`` work);
* what CuPy lacks is missing: ``ufunc.at`` (use ``backend.scatter_add``), ``errstate``,
  ``ndindex``, ``indices(sparse=True)``; and ``random`` is missing by deepwise's rule (draws
  are made on the host).

The module object exposes NumPy's namespace by delegation: each function unwraps its
FakeArray arguments, calls NumPy and wraps the arrays it returns.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")
_LACKS = {
    "errstate": "CuPy has no errstate: use np.errstate (a host context; harmless on a GPU)",
    "ndindex": "CuPy has no ndindex: loop on the host over the shape",
    "random": "deepwise draws random numbers on the host (backend.on_device_of) - the one rule",
}


def _mixed(where: str) -> TypeError:
    return TypeError(f"fake_device: {where} got a host numpy.ndarray together with device "
                     "arrays (CuPy: Unsupported type <class 'numpy.ndarray'>); move it with "
                     "xp.asarray / backend.to_device, or keep the computation on one side")


def _unwrap(x: Any, where: str, host_ok: bool = False) -> Any:
    t = type(x)
    if t is FakeArray:
        return x._a
    if t is np.ndarray:
        if host_ok:
            return x
        raise _mixed(where)
    if t is list or t is tuple:
        return t(_unwrap(v, where, host_ok) for v in x)
    return x


def _wrap(r: Any, owners: dict | None = None) -> Any:
    if owners and id(r) in owners:
        return owners[id(r)]  # an in-place result (out=...) is the array that was passed
    t = type(r)
    if t is np.ndarray:
        return FakeArray(r)
    if isinstance(r, np.generic):
        return FakeArray(np.asarray(r))  # CuPy's reductions give 0-d arrays, not scalars
    if t is tuple or t is list:
        return t(_wrap(v, owners) for v in r)
    return r


def _owners(args: tuple, kwargs: dict) -> dict:
    out = {}
    for v in (*args, *kwargs.values()):
        if type(v) is FakeArray:
            out[id(v._a)] = v
        elif type(v) is tuple:
            out.update({id(w._a): w for w in v if type(w) is FakeArray})
    return out


def _call(f: Any, where: str, args: tuple, kwargs: dict, host_ok: bool = False) -> Any:
    owners = _owners(args, kwargs)
    a = tuple(_unwrap(v, where, host_ok) for v in args)
    k = {n: _unwrap(v, where, host_ok) for n, v in kwargs.items()}
    return _wrap(f(*a, **k), owners)


class FakeArray:
    """A device array: a NumPy array inside, NumPy's methods and operators outside."""

    __slots__ = ("_a", "__weakref__")
    __hash__ = None  # type: ignore[assignment]  # unhashable, as device arrays are

    def __init__(self, a: np.ndarray) -> None:
        if type(a) is not np.ndarray:
            raise TypeError(f"FakeArray wraps a numpy.ndarray, got {type(a).__name__}")
        self._a = a

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """``np.exp(a)``, ``ndarray + a``: a NumPy ufunc met a device array - refused."""
        raise TypeError(f"fake_device: numpy.{ufunc.__name__} got a device array: {IMPLICIT}")

    def __getattr__(self, name: str) -> Any:
        if name == "_a" or name.startswith("__"):  # no __array_interface__ ...: no silent copy
            raise AttributeError(name)
        v = getattr(self._a, name)
        if not callable(v):
            return _wrap(v)

        def method(*args: Any, **kwargs: Any) -> Any:
            r = _call(v, f"ndarray.{name}", args, kwargs)
            return self if r is self._a else r
        return method

    def get(self) -> np.ndarray:
        """The data on the host (a copy), CuPy's ``ndarray.get()``."""
        return self._a.copy()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._a[_unwrap(index, "__setitem__ index", host_ok=True)] = _unwrap(value, "__setitem__")

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self._a[_unwrap(index, "__getitem__ index", host_ok=True)])

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        for i in range(len(self._a)):
            yield FakeArray(np.asarray(self._a[i]))

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __complex__(self) -> complex:
        return complex(self._a)

    def __repr__(self) -> str:
        return "fake_device." + repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    def __format__(self, spec: str) -> str:
        return format(self._a, spec)

    def __copy__(self) -> FakeArray:
        return FakeArray(self._a.copy())

    def __deepcopy__(self, memo: dict) -> FakeArray:
        return FakeArray(self._a.copy())

    def __reduce__(self) -> tuple:
        return (FakeArray, (self._a.copy(),))


def _binary(name: str) -> Any:
    def op(self: FakeArray, other: Any) -> Any:
        r = getattr(self._a, name)(_unwrap(other, name))
        if r is NotImplemented:
            return r
        return self if r is self._a else _wrap(r)
    op.__name__ = name
    return op


def _unary(name: str) -> Any:
    def op(self: FakeArray) -> Any:
        return _wrap(getattr(self._a, name)())
    op.__name__ = name
    return op


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
           "xor", "lshift", "rshift", "divmod"):
    for _f in (f"__{_n}__", f"__r{_n}__", f"__i{_n}__"):
        if hasattr(np.ndarray, _f):
            setattr(FakeArray, _f, _binary(_f))
for _f in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__contains__"):
    setattr(FakeArray, _f, _binary(_f))
for _f in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(FakeArray, _f, _unary(_f))


class FakeUfunc:
    """A NumPy ufunc on FakeArrays: call, reduce, accumulate, outer - no ``at`` (CuPy lacks it:
    ``backend.scatter_add`` is the helper)."""

    def __init__(self, uf: np.ufunc) -> None:
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout, self.identity = uf.nin, uf.nout, uf.identity

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf, self.__name__, args, kwargs)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf.reduce, f"{self.__name__}.reduce", args, kwargs)

    def accumulate(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf.accumulate, f"{self.__name__}.accumulate", args, kwargs)

    def outer(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf.outer, f"{self.__name__}.outer", args, kwargs)

    def at(self, *args: Any, **kwargs: Any) -> Any:
        raise AttributeError(f"fake_device: {self.__name__}.at does not exist on the device "
                             "(CuPy has no ufunc.at): use deepwise.backend.scatter_add")


class FakeNumPy(types.ModuleType):
    """NumPy's namespace over FakeArrays, by delegation (attributes are made on first use)."""

    ndarray = FakeArray

    def __init__(self, name: str, np_module: Any) -> None:
        super().__init__(name)
        self._np = np_module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_np":
            raise AttributeError(name)
        if name in _LACKS:
            raise AttributeError(f"fake_device: no {name!r} on the device: {_LACKS[name]}")
        obj = getattr(self._np, name)
        if isinstance(obj, np.ufunc):
            r: Any = FakeUfunc(obj)
        elif isinstance(obj, types.ModuleType):
            r = FakeNumPy(f"{self.__name__}.{name}", obj)
        elif isinstance(obj, type) or not callable(obj):
            r = obj  # dtypes (xp.float32), constants (xp.pi, xp.newaxis)
        else:
            def r(*args: Any, _f: Any = obj, _n: str = name, **kwargs: Any) -> Any:
                return _call(_f, _n, args, kwargs)
        setattr(self, name, r)
        return r


fake = FakeNumPy("fake_device.xp", np)


def _to_device(a: Any, dtype: Any = None, copy: bool = True) -> FakeArray:
    if type(a) is FakeArray:
        if dtype is None or a._a.dtype == np.dtype(dtype):
            return FakeArray(a._a.copy()) if copy else a
        return FakeArray(a._a.astype(dtype))
    return FakeArray(np.array(_unwrap(a, "asarray", host_ok=True), dtype=dtype, copy=True))


def _asarray(a: Any, dtype: Any = None, order: Any = None) -> FakeArray:
    """Host data -> a device copy (CuPy's ``asarray``); a device array stays itself."""
    return _to_device(a, dtype, copy=False)


def _array(a: Any, dtype: Any = None, copy: bool = True, order: Any = None,
           ndmin: int = 0) -> FakeArray:
    return _to_device(a, dtype, copy=True)


def _asnumpy(a: Any) -> np.ndarray:
    """Device -> host (a copy), CuPy's ``asnumpy``."""
    return a._a.copy() if type(a) is FakeArray else np.asarray(a)


def _scatter_add(a: FakeArray, indices: Any, values: Any) -> None:
    """``a[indices] += values`` with repeats summed (``cupyx.scatter_add``'s signature)."""
    np.add.at(a._a, _unwrap(indices, "scatter_add", host_ok=True), _unwrap(values, "scatter_add"))


def _indices(dimensions: Any, dtype: Any = int) -> FakeArray:
    """CuPy's ``indices``: no ``sparse`` argument."""
    return FakeArray(np.indices(dimensions, dtype))


fake.indices = _indices
fake.asarray = fake.asanyarray = fake.ascontiguousarray = _asarray
fake.array = _array
fake.asnumpy = _asnumpy
fake.scatter_add = _scatter_add


def register() -> tuple:
    """Make this fake the "cuda" backend; returns what to pass to ``restore``."""
    from deepwise import backend

    return backend.use_device_module(fake, FakeArray)


def restore(prev: tuple) -> None:
    from deepwise import backend

    backend.use_device_module(*prev) if prev[0] is not None else backend.use_device_module(None)
