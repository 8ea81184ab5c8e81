"""Reverse-mode autodiff: Function, the backward engine, grad mode, hooks, gradcheck.

How it works, in one screen:

* Every differentiable op is a :class:`Function` subclass with ``forward`` and ``backward`` side by
  side. ``forward`` takes raw arrays and returns raw array(s); it keeps what ``backward`` needs as
  attributes of ``self``. ``backward`` takes the gradient of the loss with respect to each output
  and returns the gradient with respect to each input (the chain rule: ``dL/dx = dL/dy * dy/dx``).
* :meth:`Function.apply` unwraps tensors, runs ``forward``, and - only when grad mode is on and
  some input requires grad - records the node: the output tensors point at it (``grad_fn``) and it
  points at its input tensors. That recorded graph is what ``loss.backward()`` walks.
* :func:`run_backward` orders the graph with an explicit stack (no recursion limit), counts how
  many consumers each node has, and processes a node once all of them have sent their gradient
  (so a tensor used twice - a "diamond" - gets the sum). Leaves accumulate into ``.grad``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import backend as _backend

# --------------------------------------------------------------------------------------------
# errors


class ShapeError(ValueError):
    """A tensor had the wrong shape for an op. The message names the op, what it got and expected.

    Inside a Module, the layer's path is put in front of the message (see ``nn.Module``).
    """


class DimError(ShapeError, IndexError):
    """A dim argument out of range (an IndexError too, as in PyTorch and NumPy's AxisError)."""


class DeviceError(RuntimeError):
    """Tensors on different devices met in one op (a RuntimeError, as in PyTorch). The message
    names the op and both devices; inside a Module the layer's path is put in front of it."""


def _check_devices(op: str, arrays: list) -> None:
    """Raise DeviceError when ``arrays`` mix device arrays and host NumPy arrays (numbers are
    welcome on every device). Only called once a device backend has been activated."""
    dev = host = None
    for i, a in enumerate(arrays):
        if _backend.is_device_array(a):
            dev = i if dev is None else dev
        elif isinstance(a, np.ndarray):
            host = i if host is None else host
    if dev is not None and host is not None:
        raise DeviceError(
            f"{op}: expected all tensors to be on the same device, but found at least two "
            f"devices, {_backend.CUDA} and cpu (input #{dev} is on {_backend.CUDA}, input "
            f"#{host} on cpu); move them to one device with .to(device) first")


# --------------------------------------------------------------------------------------------
# grad mode


class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.forward_observers: list[Callable] = []
        self.backward_observers: list[Callable] = []


_state = _State()


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward (the default)."""
    return _state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode, restoring the old mode on exit."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(_state.grad_enabled)
        _state.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self.prev.pop()


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """``with deepwise.no_grad():`` - nothing inside is recorded (inference, parameter updates)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """``with deepwise.enable_grad():`` - turn recording back on inside a no_grad block."""

    def __init__(self) -> None:
        super().__init__(True)


class set_grad_enabled(_GradMode):  # noqa: N801 - PyTorch's name
    """``set_grad_enabled(False)`` switches recording off now; as a context manager, for a block."""

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self.prev.append(_state.grad_enabled)
        _state.grad_enabled = self.mode  # takes effect at once, as in PyTorch

    def __enter__(self) -> None:  # the mode is already set by __init__
        pass


# --------------------------------------------------------------------------------------------
# hooks


class RemovableHandle:
    """Returned by every ``register_*`` call; ``handle.remove()`` takes the hook out again."""

    __slots__ = ("_list", "_item")

    def __init__(self, lst: list, item: Any) -> None:
        self._list, self._item = lst, item

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            self._list.remove(self._item)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def observe_forward(callback: Callable[[Function, tuple], None]) -> RemovableHandle:
    """Call ``callback(node, outputs)`` after every recorded op's forward (outputs are Tensors).

    This is how ``deepwise.explain`` watches the computation without the core knowing it.
    """
    _state.forward_observers.append(callback)
    return RemovableHandle(_state.forward_observers, callback)


def observe_backward(callback: Callable[[Function, tuple, tuple], None]) -> RemovableHandle:
    """Call ``callback(node, grad_outputs, grad_inputs)`` after each node's backward (arrays)."""
    _state.backward_observers.append(callback)
    return RemovableHandle(_state.backward_observers, callback)


# --------------------------------------------------------------------------------------------
# Function

_Tensor: Any = None  # bound by deepwise.tensor (the core's two halves meet here)


def _bind_tensor(cls: type) -> None:
    global _Tensor, _raw_data
    _Tensor = cls
    # the array in a tensor's slot, read without the ``data`` property that Tensor subclasses
    # (nn.Parameter) give user code (a TensorData view chosen by the caller's module)
    _raw_data = cls.__dict__["data"].__get__


class Function:
    """One differentiable op: ``forward`` and ``backward`` on raw arrays, side by side.

    Subclasses implement::

        def forward(self, *arrays, **params) -> array | tuple[array, ...]
        def backward(self, *grad_outputs) -> array | None | tuple[array | None, ...]

    ``backward`` returns one gradient per positional input of ``forward`` (None where the input
    needs none; ``self.needs_input_grad[i]`` says which do). Never modify a ``grad_output`` in
    place: it may be shared with other nodes.
    """

    __slots__ = ("inputs", "needs_input_grad", "versions", "n_outputs", "out_meta", "_hooks",
                 "_freed", "__dict__", "__weakref__")

    def forward(self, *args: Any, **params: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *grad_outputs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run the op on tensors (or arrays/scalars, taken as constants); record it if needed."""
        tensor_cls = _Tensor
        arrays = []
        requires = False
        for x in inputs:
            if isinstance(x, tensor_cls):
                arrays.append(x.data if type(x) is tensor_cls else _raw_data(x))
                if x._requires_grad:
                    requires = True
            else:
                arrays.append(x)
        if _backend._device_type is not None:  # a device is in use: no mixing (CPU-only: no cost)
            _check_devices(cls.__name__, arrays)
        fn = cls.__new__(cls)
        out = fn.forward(*arrays, **params)
        record = requires and _state.grad_enabled
        if type(out) is tuple:
            outs = tuple([tensor_cls._make(o) for o in out])
            if record:
                fn.n_outputs = len(outs)
                fn.out_meta = tuple([(o.shape, o.dtype) for o in out])
                for i, t in enumerate(outs):
                    if t.data.dtype.kind == "f":
                        t._requires_grad, t.grad_fn, t._output_nr = True, fn, i
        else:
            outs = tensor_cls._make(out)
            if record:
                fn.n_outputs = 1
                outs._requires_grad = True
                outs.grad_fn = fn
        if record:
            ins = fn.inputs = tuple([x if isinstance(x, tensor_cls) else None for x in inputs])
            fn.needs_input_grad = tuple([x is not None and x._requires_grad for x in ins])
            fn.versions = tuple([0 if x is None else x._version for x in ins])
            fn._hooks = None
            fn._freed = False
            if _state.forward_observers:
                for cb in list(_state.forward_observers):
                    cb(fn, outs if type(outs) is tuple else (outs,))
        return outs

    def release(self) -> None:
        """Free what forward saved for backward (done after backward unless retain_graph)."""
        self.__dict__.clear()
        self._freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo NumPy broadcasting: sum ``grad`` over the axes that were broadcast to get ``shape``.

    If ``y = x + b`` broadcast ``b`` of shape (3,) to (N, 3), each ``b[j]`` was used N times, so
    ``dL/db[j]`` is the sum over those N uses.
    """
    if grad.shape == shape:
        return grad
    ndiff = grad.ndim - len(shape)
    axes = tuple(range(ndiff)) + tuple(
        i + ndiff for i, n in enumerate(shape) if n == 1 and grad.shape[i + ndiff] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape) if ndiff or grad.shape != shape else grad


# --------------------------------------------------------------------------------------------
# the backward engine


def _check_versions(node: Function) -> None:
    """Raise if an input that the node saved was modified in place after the forward ran."""
    for i, (t, v) in enumerate(zip(node.inputs, node.versions)):
        if t is None or t._version == v:
            continue
        saved = node.__dict__.values()
        if any(s is t.data or (_backend.is_array(s) and s.base is t.data) for s in saved):
            raise RuntimeError(
                f"{node.name}.backward needs input #{i} (shape {tuple(t.shape)}), but it was "
                f"modified in place after {node.name} used it (version {v} -> {t._version}). "
                "Use an out-of-place op (x = x + 1 rather than x += 1), or .clone() it first.")


def _asarray(a: Any) -> Any:
    return a if _backend.is_device_array(a) else np.asarray(a)


def _leaf_accumulate(t: Any, g: np.ndarray) -> None:
    if t._hooks:
        for h in list(t._hooks):
            r = h(_Tensor._make(g))
            if r is not None:
                g = r.data if isinstance(r, _Tensor) else _asarray(r)
    if g.shape != t.data.shape:
        raise RuntimeError(f"autograd: gradient of shape {g.shape} for a leaf of shape "
                           f"{t.data.shape} (an op's backward returned the wrong shape)")
    if t.grad is None:
        t.grad = _Tensor._make(g.astype(t.data.dtype, copy=True))
    else:
        t.grad.data += g


def run_backward(roots: Sequence[Any], grads: Sequence[np.ndarray], retain_graph: bool = False,
                 capture: Sequence[Any] | None = None) -> list[np.ndarray | None] | None:
    """Backpropagate ``grads`` from ``roots`` through the recorded graph.

    Without ``capture``, leaves accumulate into ``.grad``. With ``capture`` (a list of tensors),
    their gradients are returned instead and no ``.grad`` is touched (``deepwise.autograd.grad``).
    """
    captured: dict[int, np.ndarray] | None = None
    if capture is not None:
        captured = {}
        want = {id(t): t for t in capture}
        want_nonleaf: dict[Function, list] = {}
        for t in capture:
            if t.grad_fn is not None:
                want_nonleaf.setdefault(t.grad_fn, []).append(t)

    # 1. count, for each node, how many edges lead into it from the part of the graph we reach
    deps: dict[Function, int] = {}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        if node._freed:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: the buffers that "
                f"{node.name} saved for backward were already freed. Call .backward("
                "retain_graph=True) the first time if you need to backward twice.")
        for t in node.inputs:
            if t is None or not t._requires_grad:
                continue
            f = t.grad_fn
            if f is not None:
                deps[f] = deps.get(f, 0) + 1
                if f not in seen:
                    seen.add(f)
                    stack.append(f)

    def give_leaf(t: Any, g: np.ndarray) -> None:
        if captured is None:
            _leaf_accumulate(t, g)
        elif id(t) in want:
            captured[id(t)] = g if id(t) not in captured else captured[id(t)] + g

    # 2. seed the roots' gradients
    buffers: dict[Function, list] = {}
    ready: list[Function] = []
    for r, g in zip(roots, grads):
        f = r.grad_fn
        if f is None:
            give_leaf(r, g)
            continue
        buf = buffers.get(f)
        if buf is None:
            buf = buffers[f] = [None] * f.n_outputs
        i = r._output_nr
        buf[i] = g if buf[i] is None else buf[i] + g
        if deps.get(f, 0) == 0 and f not in ready:
            ready.append(f)

    observers = _state.backward_observers
    # 3. process nodes once every consumer has sent its gradient
    while ready:
        node = ready.pop()
        buf = buffers.pop(node)
        if node._hooks:
            for i, hooks in node._hooks.items():
                for h in list(hooks):
                    if buf[i] is None:
                        continue
                    r = h(_Tensor._make(buf[i]))
                    if r is not None:
                        buf[i] = r.data if isinstance(r, _Tensor) else _asarray(r)
        if captured is not None and node in want_nonleaf:
            for t in want_nonleaf[node]:
                if buf[t._output_nr] is not None:
                    captured[id(t)] = buf[t._output_nr]
        if node.n_outputs > 1:
            xp = _backend.get_array_module(*buf)
            for i, (shape, dtype) in enumerate(node.out_meta):
                if buf[i] is None:
                    buf[i] = xp.zeros(shape, dtype)
        if node.versions and any(t is not None and t._version != v
                                 for t, v in zip(node.inputs, node.versions)):
            _check_versions(node)
        grad_in = node.backward(*buf)
        if type(grad_in) is not tuple:
            grad_in = (grad_in,)
        if len(grad_in) != len(node.inputs):
            raise RuntimeError(f"{node.name}.backward returned {len(grad_in)} gradients for "
                               f"{len(node.inputs)} inputs")
        if observers:
            for cb in list(observers):
                cb(node, tuple(buf), grad_in)
        if not retain_graph:
            node.release()
        for t, g in zip(node.inputs, grad_in):
            if t is None or g is None or not t._requires_grad:
                continue
            f = t.grad_fn
            if f is None:
                give_leaf(t, g)
                continue
            b = buffers.get(f)
            if b is None:
                b = buffers[f] = [None] * f.n_outputs
            i = t._output_nr
            b[i] = g if b[i] is None else b[i] + g
            deps[f] -= 1
            if deps[f] == 0:
                ready.append(f)
    if captured is None:
        return None
    return [captured.get(id(t)) for t in capture]


def _as_grad(t: Any, g: Any, what: str) -> np.ndarray:
    if g is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"{what}: grad can be created implicitly only for scalar outputs, but the output "
                f"has shape {tuple(t.shape)}. Pass gradient= (same shape), or reduce it first "
                "(e.g. loss.sum() or loss.mean()).")
        return _backend.get_array_module(t.data).ones_like(t.data)
    if isinstance(g, _Tensor):
        g = g.data
    elif not _backend.is_device_array(g):
        g = _backend.on_device_of(np.asarray(g, dtype=t.data.dtype), t.data)
    if g.shape != t.data.shape:
        raise ShapeError(f"{what}: gradient has shape {g.shape}, expected the output's shape "
                         f"{t.data.shape}")
    return g


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """Accumulate into the leaves' ``.grad`` the gradients of ``tensors`` (one or a list)."""
    if isinstance(tensors, _Tensor):
        tensors, grad_tensors = [tensors], [grad_tensors]
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not t._requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn: nothing that "
                "produced it required grad (set requires_grad=True on the inputs/parameters), or "
                "it was computed under no_grad().")
        roots.append(t)
        grads.append(_as_grad(t, g, "backward"))
    run_backward(roots, grads, retain_graph=retain_graph)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """d(outputs)/d(inputs) as tensors, touching no ``.grad`` (``torch.autograd.grad``)."""
    outputs = [outputs] if isinstance(outputs, _Tensor) else list(outputs)
    single = isinstance(inputs, _Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, _Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grads = [_as_grad(o, g, "autograd.grad") for o, g in zip(outputs, grad_outputs)]
    res = run_backward(outputs, grads, retain_graph=retain_graph, capture=inputs)
    out = []
    for t, g in zip(inputs, res):
        if g is None and not allow_unused:
            raise RuntimeError("autograd.grad: one of the inputs was not used to compute the "
                               "outputs (pass allow_unused=True to get None for it)")
        out.append(None if g is None else _Tensor._make(g.astype(t.data.dtype, copy=True)))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# gradient check


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare the gradients that backward computes with central finite differences, in float64.

    ``fn(*inputs)`` returns a tensor (or a tuple of them). The outputs are reduced to a scalar
    ``L = sum_k <out_k, v_k>`` with fixed random weights ``v_k``, so every entry of every Jacobian
    takes part. Each input that requires grad is perturbed element by element:
    ``dL/dx_i ~ (L(x_i + eps) - L(x_i - eps)) / (2 eps)``.

    Returns True, or raises AssertionError naming the input, the worst element and both values.
    """
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, _Tensor) and x._requires_grad and x.data.dtype != np.float64:
            raise TypeError(f"gradcheck: input #{i} is {x.data.dtype}; use float64 inputs "
                            "(.double()) - float32 is too coarse for finite differences")
    rng = np.random.default_rng(seed)

    def outputs() -> list:
        out = fn(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    with enable_grad():
        outs = [o for o in outputs() if isinstance(o, _Tensor)]
    weights = [rng.standard_normal(o.data.shape) for o in outs]

    def scalar() -> float:
        with no_grad():
            vals = [o for o in outputs() if isinstance(o, _Tensor)]
        return float(sum(np.sum(o.data * w) for o, w in zip(vals, weights)))

    wrt = [x for x in inputs if isinstance(x, _Tensor) and x._requires_grad]
    diff = [(o, w) for o, w in zip(outs, weights) if o._requires_grad]
    if not diff:
        raise AssertionError("gradcheck: no output requires grad")
    analytic = grad([o for o, _ in diff], wrt, [_Tensor._make(w) for _, w in diff],
                    allow_unused=True)
    for k, x in enumerate(wrt):
        a = np.zeros_like(x.data) if analytic[k] is None else analytic[k].data
        num = np.zeros_like(x.data)
        for idx in np.ndindex(x.data.shape):
            orig = x.data[idx]
            x.data[idx] = orig + eps
            hi = scalar()
            x.data[idx] = orig - eps
            lo = scalar()
            x.data[idx] = orig
            num[idx] = (hi - lo) / (2 * eps)
        err = np.abs(a - num) - (atol + rtol * np.abs(num))
        if err.size and err.max() > 0:
            w = np.unravel_index(int(np.argmax(err)), err.shape)
            pos = next(i for i, y in enumerate(inputs) if y is x)
            raise AssertionError(
                f"gradcheck: input #{pos} (shape {x.data.shape}), element {tuple(map(int, w))}: "
                f"analytic {a[w]:.8g} vs numeric {num[w]:.8g} "
                f"(allowed |diff| <= {atol} + {rtol} * |numeric|)")
    return True

