"""Tensor: a NumPy array (``data``) plus what autograd needs (``grad``, ``grad_fn`` ...).

Operators and methods delegate to the ops in ``deepwise.ops``; creation functions
(``tensor``, ``zeros``, ``arange`` ...) live here, random ones in ``deepwise.random``.
"""

from __future__ import annotations

import builtins
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autograd, backend
from .autograd import RemovableHandle, _state

_SCALAR_TYPES = (bool, int, float, complex, np.generic)


def _asarray(data: Any) -> Any:
    """``data`` as an array: a device array stays as it is, anything else goes through NumPy."""
    return data if backend.is_device_array(data) else np.asarray(data)


def _infer_dtype(data: Any, dtype: Any) -> np.dtype | None:
    """PyTorch's rule: Python floats get the default dtype; NumPy arrays keep their own."""
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(data, np.ndarray):
        return None
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return backend.get_default_dtype()
    if arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        return backend.int64
    return None


class DTypeError(TypeError, RuntimeError):
    """Tensors of different dtypes met in an op that needs one (matmul, linear, conv, rnn).

    A TypeError, and a RuntimeError as PyTorch raises for the same mistake. The message names
    the op, both dtypes and the fix (``x.float()``); inside a Module the layer's path is put in
    front of it, as for :class:`~deepwise.autograd.ShapeError`.
    """


_CONVERT = {"float32": "float()", "float64": "double()", "float16": "half()"}


def _convert(name: str, dtype: np.dtype) -> str:
    """``x.float()`` for float32 ... : the call that converts ``name`` to ``dtype``."""
    return f"{name}." + _CONVERT.get(str(dtype), f"to(deepwise.{dtype})")


def check_dtypes(op: str, x: Any, w: Any, names: tuple[str, str] = ("input", "weight")) -> None:
    """Raise DTypeError naming ``op``, both dtypes and the fix unless ``x`` and ``w`` share one
    dtype (PyTorch's rule for matmul, linear, conv and rnn: no silent promotion). One
    comparison, no pass over the data; Python numbers and lists (no ``dtype``) are not checked."""
    # .data.dtype rather than the property (half the time); `is` first: dtypes are singletons
    a = x.data.dtype if isinstance(x, Tensor) else getattr(x, "dtype", None)
    b = w.data.dtype if isinstance(w, Tensor) else getattr(w, "dtype", None)
    if a is b or a is None or b is None or a == b:
        return
    first, second = names
    got = f"{op}: {first} is {a} but {second} is {b}"
    if first == "input":  # a layer's input against its weights: convert the input
        if a.kind != "f":
            raise DTypeError(f"{got}: this layer needs floating-point input; convert it with "
                             f"{_convert('x', b)}")
        raise DTypeError(f"{got}; convert the input with {_convert('x', b)} (or the model "
                         f"with {_convert('model', a)})")
    if a.kind != "f" or b.kind != "f":
        i_name, f_dt = (first, b) if a.kind != "f" else (second, a)
        raise DTypeError(f"{got}: convert the integer {i_name} with {_convert(i_name, f_dt)}")
    raise DTypeError(f"{got}; convert one of them, e.g. {_convert(second, a)} or "
                     f"{_convert(first, b)}")


_TO_KEYWORDS = ("device", "dtype", "non_blocking", "copy", "memory_format")
_TO_USAGE = ("to(dtype, non_blocking=False, copy=False), to(device=None, dtype=None, "
             "non_blocking=False, copy=False) or to(other_tensor, non_blocking=False, copy=False)")


def check_device(device: Any, where: str) -> backend.device:
    """The device ``device`` names (``backend.CPU`` or ``backend.CUDA``); ValueError naming
    ``where`` for an unknown device or a GPU that is not at hand (see ``backend.as_device``)."""
    return backend.as_device(device, where)


def _is_device(v: Any) -> bool:
    return isinstance(v, (str, int, np.integer, backend.device)) and not isinstance(v, bool)


def _parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any, bool]:
    """(device, dtype, copy) from the arguments of ``Tensor.to`` (PyTorch's three forms)."""
    unknown = [k for k in kwargs if k not in _TO_KEYWORDS]
    if unknown:
        raise TypeError(f"to() got unexpected keyword argument(s) {unknown}; expected "
                        f"{_TO_USAGE}")
    rest = list(args)
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    if rest:
        first = rest.pop(0)
        if isinstance(first, Tensor):
            device, dtype = first.device, first.dtype
        elif _is_device(first):
            device = first
            if rest and not isinstance(rest[0], bool):
                dtype = rest.pop(0)
        else:
            dtype = first
    if len(rest) > 2:
        raise TypeError(f"to() takes at most 4 positional arguments; expected {_TO_USAGE}")
    flags = dict(zip(("non_blocking", "copy"), rest))
    twice = sorted(k for k in flags if k in kwargs)
    if twice:
        raise TypeError(f"to() got multiple values for {twice}")
    copy = kwargs.get("copy", flags.get("copy", False))
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"to(): expected a dtype (deepwise.float32 ...), a device ('cpu') "
                            f"or a tensor, got {dtype!r}; {_TO_USAGE}") from None
    return device, dtype, bool(copy)


class _CallableSize(int):
    """An element count (NumPy's ``a.size``) that, called, answers PyTorch's ``size()``:
    ``size()`` is the shape, ``size(d)`` the length of dimension ``d``."""

    def __new__(cls, count: builtins.int, shape: tuple) -> _CallableSize:
        self = super().__new__(cls, count)
        self.shape = shape
        return self

    def __call__(self, dim: builtins.int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]


class TensorData(np.ndarray):
    """What ``param.data`` of a Parameter is in a user's code: its NumPy array (an ndarray in
    every way, sharing the memory) with PyTorch's in-place methods, so hand-written updates
    port unchanged::

        p.data.add_(p.grad, alpha=-lr)     p.data.uniform_(-0.1, 0.1)     p.data.zero_()
        p.data.copy_(other)                p.data.view(-1)                p.data.clamp_(-1, 1)

    ``view(*ints)`` reshapes (PyTorch's meaning); ``view(dtype)`` is NumPy's. ``.size`` is both:
    NumPy's element count (an ``int``: ``p.data.size == 6``) that, called, is PyTorch's method
    (``p.data.size()`` the shape, ``p.data.size(0)`` one dimension).
    """

    @property
    def size(self) -> _CallableSize:  # type: ignore[override]
        return _CallableSize(np.ndarray.size.__get__(self), self.shape)

    @staticmethod
    def _raw(v: Any) -> Any:
        return v.data if isinstance(v, Tensor) else v

    def add_(self, other: Any, alpha: Any = 1) -> TensorData:
        o = self._raw(other)
        np.add(self, o if alpha == 1 else np.multiply(o, alpha), out=self, casting="same_kind")
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> TensorData:
        return self.add_(other, -alpha)

    def mul_(self, other: Any) -> TensorData:
        np.multiply(self, self._raw(other), out=self, casting="same_kind")
        return self

    def div_(self, other: Any) -> TensorData:
        np.divide(self, self._raw(other), out=self, casting="same_kind")
        return self

    def zero_(self) -> TensorData:
        self[...] = 0
        return self

    def fill_(self, value: Any) -> TensorData:
        self[...] = self._raw(value)
        return self

    def copy_(self, src: Any) -> TensorData:
        np.copyto(self, np.broadcast_to(np.asarray(self._raw(src)), self.shape), casting="unsafe")
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> TensorData:  # noqa: A002
        np.clip(self, min, max, out=self)
        return self

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0) -> TensorData:
        self[...] = backend.default_generator().uniform(a, b, self.shape)
        return self

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0) -> TensorData:
        self[...] = backend.default_generator().normal(mean, std, self.shape)
        return self

    def view(self, *args: Any) -> Any:
        shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        if shape and all(isinstance(d, (builtins.int, np.integer)) and
                         not isinstance(d, builtins.bool) for d in shape):
            return self.reshape(shape)
        return super().view(*args)

    def numpy(self) -> np.ndarray:
        return self.view(np.ndarray)

    def __repr__(self) -> str:  # shown as the array it is (in state dicts, debuggers)
        return repr(self.view(np.ndarray))

    def clone(self) -> Tensor:
        return Tensor._make(np.array(self, copy=True))


_VIEWS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class _TensorDataSlot:
    """The ``data`` attribute of Tensor subclasses (``nn.Parameter``): the same slot, holding a
    plain ndarray. Read from deepwise's own code it is that ndarray (the hot paths - ops and
    optimizer updates - stay on plain arrays: a subclass costs ~2 us per ufunc); read from
    anywhere else (a user's script) it is a :class:`TensorData` view of the same memory, with
    PyTorch's in-place methods."""

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        arr = self.slot.__get__(obj, owner)
        if type(arr) is not np.ndarray:  # a device array: the array itself
            return arr
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("deepwise.") or caller == "deepwise":
            return arr
        view = _VIEWS.get(id(arr))  # one view per array while it is held: p.data is p.data
        if view is None or view._of is not arr:
            view = _VIEWS[id(arr)] = arr.view(TensorData)
            view._of = arr
        return view

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value if type(value) is np.ndarray else _asarray(value))


class Tensor:
    """A multi-dimensional array that can record the ops applied to it, for backpropagation.

    Shape: any. ``Tensor.data`` is the underlying NumPy array (``W.data -= lr * W.grad.data``
    updates in place, as in PyTorch). Create tensors with ``deepwise.tensor([...])``,
    ``deepwise.zeros(3, 4)``, ``deepwise.randn(2, 3, requires_grad=True)`` ...

    >>> import deepwise as dw
    >>> x = dw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "_output_nr", "_version", "_hooks",
                 "__weakref__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # NumPy defers to Tensor's operators: ndarray + Tensor -> Tensor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Subclasses (``nn.Parameter``) keep their array as :class:`TensorData`, so PyTorch's
        ``param.data.add_(...)`` / ``.uniform_()`` / ``.view(-1)`` work on ``param.data``."""
        super().__init_subclass__(**kwargs)
        if "data" not in cls.__dict__:
            cls.data = _DATA_AS_TENSOR_DATA

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if backend.is_device_array(data):
            arr = data.astype(data.dtype if dtype is None else np.dtype(dtype), copy=True)
        else:
            arr = np.array(data, dtype=_infer_dtype(data, dtype), copy=True)
        self.data = arr
        self.grad: Tensor | None = None
        self._requires_grad = False
        self.grad_fn: autograd.Function | None = None
        self._output_nr = 0
        self._version = 0
        self._hooks: list | None = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data: Any) -> Tensor:
        """Wrap an array without copying (the fast path used by every op)."""
        t = object.__new__(cls)
        t.data = data if type(data) is np.ndarray else _asarray(data)
        t.grad = None
        t._requires_grad = False
        t.grad_fn = None
        t._output_nr = 0
        t._version = 0
        t._hooks = None
        return t

    # ---- autograd state -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and self.data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients; this tensor "
                               f"is {self.data.dtype} (convert with .float() first)")
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad=False can only be set on leaf tensors; use "
                               ".detach() to get a tensor outside the graph")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (not the output of a recorded op)."""
        return self.grad_fn is None

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor w.r.t. every leaf that requires grad.

        For a scalar (a loss) no ``gradient`` is needed; otherwise pass dL/d(self), same shape.
        The leaves' ``.grad`` accumulate (call ``zero_grad`` between steps). The graph's saved
        buffers are freed unless ``retain_graph=True``.
        """
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` takes the hook out."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            return RemovableHandle(self._hooks, hook)
        fn = self.grad_fn
        if fn._hooks is None:
            fn._hooks = {}
        lst = fn._hooks.setdefault(self._output_nr, [])
        lst.append(hook)
        return RemovableHandle(lst, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is None:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(g: Tensor) -> None:
            t = ref()
            if t is not None:
                t.grad = Tensor._make(g.data.copy()) if t.grad is None else t.grad + g

        self.register_hook(keep)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, outside the graph (no grad_fn, no requires_grad)."""
        return Tensor._make(self.data)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- in-place ops: only outside the recorded graph -----------------------------------
    def _inplace(self, op: str) -> None:
        if _state.grad_enabled and self._requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(
                    f"{op}: a leaf tensor that requires grad (a parameter?) cannot be changed in "
                    "place while grad mode is on - the change would not be recorded. Do the update "
                    "inside `with deepwise.no_grad():`, or on `.data`.")
            raise RuntimeError(
                f"{op}: this tensor is part of the recorded graph (grad_fn={self.grad_fn}); "
                "deepwise does not record in-place changes. Use the out-of-place form "
                "(y = x + 1 rather than x += 1).")
        self._version += 1

    @staticmethod
    def _raw(other: Any) -> Any:
        return other.data if isinstance(other, Tensor) else other

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        self._inplace("add_")
        o, xp = self._raw(other), backend.get_array_module(self.data)
        xp.add(self.data, o if alpha == 1 else xp.multiply(o, alpha), out=self.data,
               casting="same_kind")
        return self

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        self._inplace("sub_")
        o, xp = self._raw(other), backend.get_array_module(self.data)
        xp.subtract(self.data, o if alpha == 1 else xp.multiply(o, alpha), out=self.data,
                    casting="same_kind")
        return self

    def mul_(self, other: Any) -> Tensor:
        self._inplace("mul_")
        xp = backend.get_array_module(self.data)
        xp.multiply(self.data, self._raw(other), out=self.data, casting="same_kind")
        return self

    def div_(self, other: Any) -> Tensor:
        self._inplace("div_")
        xp = backend.get_array_module(self.data)
        xp.divide(self.data, self._raw(other), out=self.data, casting="same_kind")
        return self

    def zero_(self) -> Tensor:
        self._inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value: Any) -> Tensor:
        self._inplace("fill_")
        self.data[...] = self._raw(value)
        return self

    def copy_(self, src: Any) -> Tensor:
        self._inplace("copy_")
        xp = backend.get_array_module(self.data)
        src = xp.asarray(backend.move(self._raw(src), self.device))  # across devices too
        try:
            xp.copyto(self.data, xp.broadcast_to(src, self.data.shape), casting="unsafe")
        except ValueError:
            raise autograd.ShapeError(f"copy_: cannot copy a source of shape {src.shape} into "
                                      f"a tensor of shape {self.data.shape}") from None
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's name
        self._inplace("clamp_")
        xp = backend.get_array_module(self.data)
        xp.clip(self.data, self._raw(min), self._raw(max), out=self.data)
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace("__setitem__")
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        value = self._raw(value)
        if type(self.data) is not np.ndarray and isinstance(value, np.ndarray):
            value = backend.on_device_of(value, self.data)  # host values into a device tensor
        self.data[index] = value

    # ---- properties and conversion ---------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> backend.device:
        """Where the data lives: ``device(type='cpu')`` or ``device(type='cuda', index=0)``
        (equal to the strings ``"cpu"`` / ``"cuda"``)."""
        return backend.CUDA if backend.is_device_array(self.data) else backend.CPU

    def size(self, dim: int | None = None) -> Any:
        """The shape as a tuple, or the size of one dimension."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def item(self) -> builtins.float | builtins.int | builtins.bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor can be converted to a Python "
                             f"number, this one has shape {self.data.shape}")
        return self.data.reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied); a device tensor raises TypeError
        (copy it to the host with ``.cpu()`` first, as in PyTorch)."""
        if type(self.data) is not np.ndarray and backend.is_device_array(self.data):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return self.data

    def tolist(self) -> Any:
        return backend.to_numpy(self.data).tolist()

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert dtype and/or device, with PyTorch's signatures::

            t.to(dtype, non_blocking=False, copy=False)
            t.to(device=None, dtype=None, non_blocking=False, copy=False)
            t.to(other, non_blocking=False, copy=False)   # other's dtype (and device)

        Returns ``self`` when nothing changes, unless ``copy=True`` (then a new tensor with its
        own memory, still in the graph). A move between devices (``"cpu"``, ``"cuda"``) is
        recorded too (the gradient flows back to the source device); ``"cuda"`` without a GPU
        backend raises ValueError. Unknown keywords raise TypeError naming them.
        """
        device, dtype, copy = _parse_to(args, kwargs)
        out = self
        if device is not None:
            dev = check_device(device, "to")
            if dev is not self.device:
                out, copy = _arith.to_device(self, dev), False
        if dtype is not None and np.dtype(dtype) != out.data.dtype:
            return _arith.cast(out, dtype)
        return _arith.clone(out) if copy else out

    def float(self) -> Tensor:
        return self.to(backend.float32)

    def double(self) -> Tensor:
        return self.to(backend.float64)

    def half(self) -> Tensor:
        return self.to(backend.float16)

    def long(self) -> Tensor:
        return self.to(backend.int64)

    def int(self) -> Tensor:
        return self.to(backend.int32)

    def bool(self) -> Tensor:
        return self.to(backend.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def clone(self) -> Tensor:
        """A differentiable copy with its own memory."""
        return _arith.clone(self)

    def contiguous(self) -> Tensor:
        return self

    def cpu(self) -> Tensor:
        """This tensor on the host (self when it is there already)."""
        return self if type(self.data) is np.ndarray else self.to(backend.CPU)

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """This tensor on the GPU (``to("cuda")``); ValueError when no GPU backend is at hand."""
        return self.to(check_device("cuda" if device is None else f"cuda:{device}", "cuda"))

    def pin_memory(self) -> Tensor:
        """Self: host tensors are ordinary NumPy memory (accepted so PyTorch scripts port; the
        copy to the GPU happens in ``.to("cuda")``)."""
        return self

    def is_pinned(self) -> builtins.bool:
        return False

    @property
    def is_cuda(self) -> builtins.bool:
        return backend.is_device_array(self.data)

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        return _shape.permute(self, tuple(range(self.data.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        return _shape.transpose(self, -2, -1)

    # ---- Python protocol -------------------------------------------------------------------
    __hash__ = object.__hash__

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> builtins.bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return builtins.bool(self.data.reshape(()))

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only a one-element integer tensor can be used as an index")
        return builtins.int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if type(self.data) is not np.ndarray:
            self.numpy()  # a device tensor: PyTorch's error (no silent copy to the host)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __format__(self, spec: str) -> str:
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(",
                               precision=4, threshold=200, edgeitems=3)
        extra = ""
        if self.data.dtype not in (backend.get_default_dtype(), np.int64, np.bool_):
            extra += f", dtype={self.data.dtype}"
        if type(self.data) is not np.ndarray and backend.is_device_array(self.data):
            extra += f", device='{self.device}'"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- operators (delegating to ops) -----------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _arith.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _arith.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _arith.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _arith.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _arith.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _arith.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _arith.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _arith.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _arith.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _arith.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _arith.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _arith.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _arith.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _arith.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _arith.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _arith.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _arith.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _arith.ge(self, other)

    def __invert__(self) -> Tensor:
        return _arith.logical_not(self)

    def __and__(self, other: Any) -> Tensor:
        return _arith.logical_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _arith.logical_or(self, other)

    def __getitem__(self, index: Any) -> Tensor:
        return _index.getitem(self, index)

    def __floordiv__(self, other: Any) -> Tensor:
        return _rounding.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _rounding.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return _rounding.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _rounding.remainder(other, self)

    def __xor__(self, other: Any) -> Tensor:
        xp = backend.get_array_module(self.data)
        return Tensor._make(xp.logical_xor(self.data, self._raw(other)) if self.data.dtype ==
                            np.bool_ else xp.bitwise_xor(self.data, self._raw(other)))

    # ---- PyTorch's conveniences for porting scripts ---------------------------------------
    def _device_or_none(self) -> Any:
        return None if type(self.data) is np.ndarray else self.device

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """A new tensor from ``data`` with this one's dtype (unless ``dtype``)."""
        return tensor(data, dtype=self.data.dtype if dtype is None else dtype,
                      device=self._device_or_none(), requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """zeros of ``size`` with this tensor's dtype (unless ``dtype``)."""
        return zeros(*size, dtype=self.data.dtype if dtype is None else dtype,
                     device=self._device_or_none(), requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return ones(*size, dtype=self.data.dtype if dtype is None else dtype,
                    device=self._device_or_none(), requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return empty(*size, dtype=self.data.dtype if dtype is None else dtype,
                     device=self._device_or_none(), requires_grad=requires_grad)

    def new_full(self, size: Sequence[int], fill_value: Any, dtype: Any = None,
                 requires_grad: bool = False) -> Tensor:
        return full(size, fill_value, dtype=self.data.dtype if dtype is None else dtype,
                    device=self._device_or_none(), requires_grad=requires_grad)

    def type(self, dtype: Any = None) -> Any:
        """Without an argument, PyTorch's type name (``'torch.FloatTensor'``); with a dtype (or
        such a name), this tensor converted to it."""
        if dtype is None:
            return _TYPE_NAMES.get(self.data.dtype, f"deepwise.{self.data.dtype}")
        if isinstance(dtype, str):
            named = {v: k for k, v in _TYPE_NAMES.items()}
            key = dtype.replace("deepwise.", "torch.")
            if key not in named:
                raise TypeError(f"type(): unknown type name {dtype!r}; expected one of "
                                f"{sorted(named)} or a dtype")
            dtype = named[key]
        return self.to(dtype)

    def is_floating_point(self) -> builtins.bool:
        return self.data.dtype.kind == "f"

    def element_size(self) -> builtins.int:
        return self.data.itemsize

    def nelement(self) -> builtins.int:
        return builtins.int(self.data.size)

    def ndimension(self) -> builtins.int:
        return self.data.ndim

    def _fill_random(self, op: str, draw: Callable[[np.random.Generator], np.ndarray],
                     generator: Any) -> Tensor:
        self._inplace(op)
        gen = backend.default_generator() if generator is None else generator
        self.data[...] = backend.on_device_of(draw(gen), self.data)
        return self

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0, *,
                 generator: Any = None) -> Tensor:
        """Fill in place with samples of U(a, b) (deepwise's seeded generator)."""
        return self._fill_random("uniform_", lambda g: g.uniform(a, b, self.data.shape),
                                 generator)

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *,
                generator: Any = None) -> Tensor:
        """Fill in place with samples of N(mean, std^2)."""
        return self._fill_random("normal_", lambda g: g.normal(mean, std, self.data.shape),
                                 generator)

    def bernoulli_(self, p: builtins.float = 0.5, *, generator: Any = None) -> Tensor:
        """Fill in place with 0/1 samples, 1 with probability ``p``."""
        return self._fill_random("bernoulli_", lambda g: g.random(self.data.shape) < p,
                                 generator)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        self._inplace("masked_fill_")
        xp = backend.get_array_module(self.data)
        xp.copyto(self.data, xp.asarray(self._raw(value), dtype=self.data.dtype),
                  where=xp.broadcast_to(self._raw(mask), self.data.shape))
        return self

    def scatter_(self, dim: builtins.int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        """In place :func:`deepwise.scatter` (``reduce='add'``: :func:`deepwise.scatter_add`)."""
        self._inplace("scatter_")
        if reduce not in (None, "add"):
            raise ValueError(f"scatter_: reduce must be None or 'add', got {reduce!r}")
        with autograd.no_grad():
            if reduce == "add":
                out = _index.scatter_add(self.detach(), dim, index,
                                         src if src is not None else value)
            else:
                out = _index.scatter(self.detach(), dim, index, src, value=value)
        self.data[...] = out.data
        return self

    def scatter_add_(self, dim: builtins.int, index: Any, src: Any) -> Tensor:
        self._inplace("scatter_add_")
        with autograd.no_grad():
            self.data[...] = _index.scatter_add(self.detach(), dim, index, src).data
        return self

    def index_add_(self, dim: builtins.int, index: Any, source: Any, *,
                   alpha: builtins.float = 1) -> Tensor:
        self._inplace("index_add_")
        with autograd.no_grad():
            self.data[...] = _index.index_add(self.detach(), dim, index, source,
                                              alpha=alpha).data
        return self

    def apply_(self, fn: Callable[[Any], Any]) -> Tensor:
        """Apply a Python function to every entry, in place (slow: a loop in Python)."""
        self._inplace("apply_")
        host = np.vectorize(fn, otypes=[self.data.dtype])(backend.to_numpy(self.data))
        self.data[...] = backend.on_device_of(host, self.data)  # back where it lives
        return self


autograd._bind_tensor(Tensor)
_DATA_AS_TENSOR_DATA = _TensorDataSlot(Tensor.__dict__["data"])


# --------------------------------------------------------------------------------------------
# creation (PyTorch's names)


def _shape_arg(size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(builtins.int(s) for s in size)


def _finish(arr: np.ndarray, requires_grad: bool, device: Any = None,
            where: str = "tensor") -> Tensor:
    """A new leaf tensor on ``arr``, moved to ``device`` when one is given (``"cuda"``: made
    on the host, copied once)."""
    if device is not None:
        arr = backend.move(arr, check_device(device, where))
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data: Any, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested lists, an array or a tensor),
    on ``device`` when given (``"cpu"``, ``"cuda"``).

    Python floats become float32 (the default dtype), Python ints int64; NumPy arrays keep
    their dtype.
    """
    t = Tensor(data, dtype=dtype, requires_grad=requires_grad)
    if device is not None:
        dev = check_device(device, "tensor")
        if dev is not t.device:
            t.data = backend.move(t.data, dev)
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor` but shares memory with a NumPy (or device) array when no conversion
    is needed."""
    if isinstance(data, Tensor):
        t = data if dtype is None or data.dtype == np.dtype(dtype) else data.to(dtype)
    elif (isinstance(data, np.ndarray) or backend.is_device_array(data)) and \
            (dtype is None or data.dtype == np.dtype(dtype)):
        t = Tensor._make(data)
    else:
        t = Tensor(data, dtype=dtype)
    return t if device is None else t.to(device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def _dt(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    xp = backend.module_for(device, "zeros")
    return _finish(xp.zeros(_shape_arg(size), _dt(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    xp = backend.module_for(device, "ones")
    return _finish(xp.ones(_shape_arg(size), _dt(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    xp = backend.module_for(device, "empty")
    return _finish(xp.empty(_shape_arg(size), _dt(dtype)), requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = _infer_dtype(fill_value, None) or np.asarray(fill_value).dtype
    xp = backend.module_for(device, "full")
    return _finish(xp.full(_shape_arg((size,)), fill_value, np.dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """zeros of ``t``'s shape, dtype and device (unless ``dtype`` / ``device``)."""
    xp = backend.get_array_module(t.data) if device is None else backend.module_for(
        device, "zeros_like")
    return _finish(xp.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """ones of ``t``'s shape, dtype and device (unless ``dtype`` / ``device``)."""
    xp = backend.get_array_module(t.data) if device is None else backend.module_for(
        device, "ones_like")
    return _finish(xp.ones(t.shape, dtype or t.dtype), requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """empty of ``t``'s shape, dtype and device (unless ``dtype`` / ``device``)."""
    xp = backend.get_array_module(t.data) if device is None else backend.module_for(
        device, "empty_like")
    return _finish(xp.empty(t.shape, dtype or t.dtype), requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    xp = backend.get_array_module(t.data) if device is None else backend.module_for(
        device, "full_like")
    return _finish(xp.full(t.shape, fill_value, dtype or t.dtype), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``arange(5)`` -> [0, 1, 2, 3, 4] (int64); a float argument gives the default float dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_float = any(isinstance(v, builtins.float) for v in (start, end, step))
        dtype = backend.get_default_dtype() if is_float else backend.int64
    xp = backend.module_for(device, "arange")
    return _finish(xp.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start: builtins.float, end: builtins.float, steps: builtins.int, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    xp = backend.module_for(device, "linspace")
    return _finish(xp.linspace(start, end, steps, dtype=_dt(dtype)), requires_grad)


def eye(n: builtins.int, m: builtins.int | None = None, dtype: Any = None,
        device: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(backend.module_for(device, "eye").eye(n, m, dtype=_dt(dtype)), requires_grad)


# the op modules import Tensor from here, so they are bound after the class exists
from .ops import arith as _arith  # noqa: E402
from .ops import index as _index  # noqa: E402
from .ops import linalg as _linalg  # noqa: E402
from .ops import rounding as _rounding  # noqa: E402
from .ops import shape as _shape  # noqa: E402

# --------------------------------------------------------------------------------------------
# PyTorch's devices, generators, type names and inference mode, for scripts that use them

_TYPE_NAMES = {np.dtype(np.float32): "torch.FloatTensor",
               np.dtype(np.float64): "torch.DoubleTensor",
               np.dtype(np.float16): "torch.HalfTensor", np.dtype(np.int64): "torch.LongTensor",
               np.dtype(np.int32): "torch.IntTensor", np.dtype(np.int16): "torch.ShortTensor",
               np.dtype(np.int8): "torch.CharTensor", np.dtype(np.uint8): "torch.ByteTensor",
               np.dtype(np.bool_): "torch.BoolTensor"}


device = backend.device  # PyTorch's torch.device (defined with the backend)


class Generator(np.random.Generator):
    """``deepwise.Generator().manual_seed(42)``: a random generator of its own (PyTorch's
    ``torch.Generator``). It is a NumPy Generator, so every ``generator=`` argument in deepwise
    (``random_split``, ``DataLoader``, samplers) takes it. Draws differ from PyTorch's."""

    def __init__(self, device: Any = "cpu") -> None:
        check_device(device, "Generator")
        super().__init__(np.random.PCG64())
        self._seed: builtins.int | None = None

    def manual_seed(self, seed: builtins.int) -> Generator:
        """Reseed and return self (chainable, as in PyTorch)."""
        if isinstance(seed, builtins.bool) or not isinstance(seed, (builtins.int, np.integer)):
            raise TypeError(f"Generator.manual_seed: expected an int seed, got "
                            f"{type(seed).__name__}")
        self.bit_generator.state = np.random.PCG64(builtins.int(seed)).state
        self._seed = builtins.int(seed)
        return self

    def initial_seed(self) -> builtins.int | None:
        return self._seed

    def get_state(self) -> dict:
        return self.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self.bit_generator.state = state
        return self


class inference_mode(autograd._GradMode):  # noqa: N801 - PyTorch's name
    """``with deepwise.inference_mode():`` (or as a decorator): nothing is recorded, as in
    :class:`~deepwise.no_grad`; ``inference_mode(False)`` leaves grad mode as it is."""

    def __init__(self, mode: builtins.bool = True) -> None:
        super().__init__(False)
        self.enabled = builtins.bool(mode)

    def __enter__(self) -> None:
        self.prev.append(_state.grad_enabled)
        if self.enabled:
            _state.grad_enabled = False


def is_tensor(obj: Any) -> builtins.bool:
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> builtins.bool:
    return t.data.dtype.kind == "f"


def numel(t: Tensor) -> builtins.int:
    return builtins.int(t.data.size)


def _typed(dtype: np.dtype) -> Callable[..., Tensor]:
    def make(*args: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], (builtins.int, np.integer)):
            return Tensor(args[0], dtype=dtype)  # LongTensor([1, 2]): from data
        return zeros(*args, dtype=dtype)  # FloatTensor(2, 3): a (2, 3) tensor (zeros)
    make.__name__ = _TYPE_NAMES[dtype].split(".")[1]
    make.__doc__ = (f"PyTorch's legacy constructor: ``{make.__name__}([..])`` from data, "
                    f"``{make.__name__}(2, 3)`` a (2, 3) tensor of zeros, dtype {dtype}.")
    return make


FloatTensor = _typed(np.dtype(np.float32))
DoubleTensor = _typed(np.dtype(np.float64))
LongTensor = _typed(np.dtype(np.int64))
IntTensor = _typed(np.dtype(np.int32))
ByteTensor = _typed(np.dtype(np.uint8))
BoolTensor = _typed(np.dtype(np.bool_))


def multinomial(input: Tensor,  # noqa: A002 - PyTorch's name
                num_samples: builtins.int, replacement: builtins.bool = False, *,
                generator: Any = None) -> Tensor:
    """Draw ``num_samples`` category indices per row of ``input`` (non-negative weights, (C,) or
    (N, C)), with or without replacement: int64 (num_samples,) or (N, num_samples)."""
    w = np.asarray(backend.to_numpy(input.data) if isinstance(input, Tensor) else input,
                   dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[-1] == 0:
        raise ValueError(f"multinomial: expected weights (C,) or (N, C), got shape {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all() or (w.sum(-1) <= 0).any():
        raise ValueError("multinomial: weights must be finite, non-negative, with a positive sum "
                         "in every row")
    if not replacement and num_samples > np.count_nonzero(w, axis=-1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {np.count_nonzero(w, axis=-1).min()} non-zero weights")
    gen = backend.default_generator() if generator is None else generator
    rows = w.reshape(-1, w.shape[-1])
    out = np.stack([gen.choice(r.size, size=num_samples, replace=replacement, p=r / r.sum())
                    for r in rows])  # one draw per row (a loop over rows, not samples)
    out = out.reshape(*w.shape[:-1], num_samples).astype(np.int64)
    return Tensor._make(backend.on_device_of(out, getattr(input, "data", None)))


def bernoulli(input: Tensor,  # noqa: A002 - PyTorch's name
              p: builtins.float | None = None, *, generator: Any = None) -> Tensor:
    """0/1 samples (input's dtype), 1 with probability ``input`` (or ``p``) entry by entry."""
    prob = backend.to_numpy(input.data) if p is None else np.full(input.shape, p)
    if ((prob < 0) | (prob > 1)).any():
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    gen = backend.default_generator() if generator is None else generator
    draw = (gen.random(input.shape) < prob).astype(input.data.dtype)
    return Tensor._make(backend.on_device_of(draw, input.data))


Tensor.multinomial = multinomial  # type: ignore[attr-defined]
Tensor.bernoulli = bernoulli  # type: ignore[attr-defined]
