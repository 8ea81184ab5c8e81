"""Module: the base class of every layer and model.

A Module holds three ordered registries, filled by plain attribute assignment in ``__init__``:

* ``_parameters``: ``self.weight = Parameter(...)`` - learnable tensors;
* ``_buffers``: ``self.register_buffer("running_mean", t)`` - state that is saved but not learned;
* ``_modules``: ``self.fc1 = Linear(...)`` - sub-modules, which nest into a tree.

Registration keeps insertion order, so ``named_parameters()`` and ``state_dict()`` give the same
names in the same order every time (PyTorch's names: ``fc1.weight``, ``0.bias`` ...).

Calling ``model(x)`` runs the forward pre-hooks, ``forward``, then the forward hooks. While it runs
the module sits on a call stack; if an op raises a :class:`~deepwise.autograd.ShapeError` (or a
:class:`~deepwise.tensor.DTypeError`) deep inside, the outermost call re-raises it once with the
failing layer's path in front::

    model.fc2 (Linear 256->10): expected input (..., 256), got (128, 128)

The root of that path is always called ``model``; sub-module names follow ``named_modules()``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..autograd import DeviceError, RemovableHandle, ShapeError
from ..tensor import DTypeError, Tensor, check_device
from .parameter import Parameter

__all__ = [
    "Module", "register_module_forward_pre_hook", "register_module_forward_hook",
    "module_call_stack", "IncompatibleKeys", "ROOT_NAME", "state_dict_prefix_hint",
]

ROOT_NAME = "model"  # the first component of a layer path in error messages

# --------------------------------------------------------------------------------------------
# global hooks (every module call) and the stack of modules being called


class _CallState(threading.local):
    def __init__(self) -> None:
        self.stack: list[Module] = []


_calls = _CallState()
_global_forward_pre_hooks: list[Callable] = []
_global_forward_hooks: list[Callable] = []


def register_module_forward_pre_hook(hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
    """Call ``hook(module, args)`` before the forward of *every* module (tools such as
    ``deepwise.explain`` watch models this way). A returned value replaces ``args`` (a non-tuple
    is wrapped in a 1-tuple). Global hooks run before the module's own hooks."""
    _global_forward_pre_hooks.append(hook)
    return RemovableHandle(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
    """Call ``hook(module, args, output)`` after the forward of *every* module; a returned value
    replaces the output. Global hooks run before the module's own hooks."""
    _global_forward_hooks.append(hook)
    return RemovableHandle(_global_forward_hooks, hook)


def module_call_stack() -> tuple[Module, ...]:
    """The modules whose ``__call__`` is running now, outermost first."""
    return tuple(_calls.stack)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` returns: unpacks as ``missing, unexpected``."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _as_array(value: Any, key: str) -> np.ndarray:
    """A state-dict value as an array: a deepwise Tensor, a NumPy array, a number, or anything
    with ``.detach().cpu().numpy()`` (a PyTorch tensor)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or backend.is_device_array(value):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001 - any conversion failure is reported with the key
        raise TypeError(f"load_state_dict: value for {key!r} is a {type(value).__name__}, "
                        "expected a NumPy array or a tensor") from e


def state_dict_prefix_hint(own_keys: Any, given_keys: Any) -> str:
    """A hint for a state dict whose keys all carry one leading component that the model's
    keys lack (``module.`` from a DataParallel / DistributedDataParallel wrapper, the usual
    case), or the reverse; "" when the keys do not look like that."""
    own, given = list(own_keys), list(given_keys)
    if not own or not given or set(own) & set(given):
        return ""
    for keys, other, whose in ((given, own, "state_dict's"), (own, given, "model's")):
        heads = {k.split(".", 1)[0] for k in keys}
        if len(heads) != 1 or not all("." in k for k in keys):
            continue
        p = heads.pop() + "."
        if not {k[len(p):] for k in keys} & set(other):
            continue
        why = (" (DataParallel and DistributedDataParallel keep the model under 'module.')"
               if p == "module." else "")
        if whose == "state_dict's":
            return (f"every key of the state_dict starts with {p!r} and the model's keys do "
                    f"not{why}; strip it: {{k.removeprefix({p!r}): v for k, v in "
                    "state_dict.items()}")
        return (f"every key of the model starts with {p!r} and the state_dict's keys do not{why}"
                f"; load into the wrapped model instead (model.{p[:-1]}.load_state_dict(...))")
    return ""


# --------------------------------------------------------------------------------------------
# Module


class Module:
    """Base class of all layers and models: subclass it, assign layers and Parameters in
    ``__init__`` (after ``super().__init__()``), and write ``forward``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> class MLP(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(4, 8)
    ...         self.fc2 = nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> [name for name, _ in MLP().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']

    Error messages name a layer by its path from the model called outermost, whose name is
    always ``model`` (``model.fc2``); ``short_repr()`` gives the label in parentheses.
    """

    training: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments "
                            f"{args or ''}{kwargs or ''} (Module.__init__ takes none)")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = []
        d["_forward_hooks"] = []

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # ---- registration ----------------------------------------------------------------------
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call (call "
                                 f"super().__init__() first in {type(self).__name__}.__init__)")

    @staticmethod
    def _check_name(name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{kind} name must be non-empty and without '.': got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None: a declared but absent parameter, like ``bias=False``)."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"{name!r} (nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not learned (``running_mean`` ...).

        Persistent buffers go into ``state_dict`` after the parameters; non-persistent ones
        don't. ``tensor`` may be None (declared, absent).
        """
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer {name!r} "
                            "(a Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a sub-module under ``name`` (what ``self.name = module`` does)."""
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._forget(name)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter {name!r} "
                                "(nn.Parameter or None expected)")
            params[name] = None
            return
        if isinstance(value, Module):
            self._check_init("child modules")
            self._forget(name)
            d["_modules"][name] = value
            return
        modules = d.get("_modules")
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"{name!r} (nn.Module or None expected)")
            modules[name] = None
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer {name!r} "
                                "(Tensor or None expected)")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from every registry (before it is registered again elsewhere)."""
        d = self.__dict__
        d.pop(name, None)
        for reg in ("_parameters", "_buffers", "_modules"):
            d[reg].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                del r[name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = set(super().__dir__())
        for reg in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(reg, {}))
        return sorted(keys)

    # ---- iteration over the tree -----------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module (name ``prefix``) and every descendant, depth first,
        in registration order; a module reachable twice is listed once."""
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in memo:
                    continue
                memo.add(id(mod))
            yield name, mod
            kids = [(name + ("." if name else "") + k, m)
                    for k, m in mod._modules.items() if m is not None]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module (each module once)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        seen: set[int] = set()
        for mod_prefix, mod in mods:
            for k, v in mod.__dict__[registry].items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, this module's first, then each sub-module's in registration
        order; a parameter shared by two layers is listed once (under its first name)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every learnable parameter (what an optimizer gets: ``Adam(model.parameters())``)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path (``"encoder.layers.0"``); ``""`` is self."""
        mod: Module = self
        if target == "":
            return mod
        walked = []
        for item in target.split("."):
            nxt = mod._modules.get(item)
            if nxt is None:
                where = ".".join(walked) or "the model"
                raise AttributeError(f"get_submodule: {where} ({type(mod).__name__}) has no "
                                     f"sub-module {item!r}")
            mod = nxt
            walked.append(item)
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"fc1.weight"``)."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        p = mod._parameters.get(name)
        if p is None:
            raise AttributeError(f"get_parameter: {type(mod).__name__} has no parameter {name!r}")
        return p

    # ---- modes and bulk changes ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm uses batch statistics) on this module
        and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter: drop them (default) or fill them with 0."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first), then on self; returns self.
        Typical use: custom initialisation, ``model.apply(init_weights)``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_arrays(self, fn: Callable[[np.ndarray], np.ndarray]) -> Module:
        """Replace every parameter's and buffer's array with ``fn(array)``, keeping the same
        Parameter objects (so an optimizer built earlier still holds them)."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = fn(p.data)
                    if p.grad is not None:
                        p.grad.data = fn(p.grad.data)
            for b in m._buffers.values():
                if b is not None:
                    b.data = fn(b.data)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``model.to("cuda")`` moves every parameter and buffer (and their gradients) to the
        device, ``model.to(deepwise.float64)`` casts the floating ones, in place: the Parameter
        objects stay the same (an optimizer built earlier still holds them), as in PyTorch.
        ``model.to(device, dtype)``, ``model.to(tensor)`` and ``non_blocking`` work too;
        ``"cuda"`` without a GPU backend raises ValueError. Returns self."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        for a in args:
            if isinstance(a, bool):  # non_blocking: nothing is asynchronous here
                continue
            if isinstance(a, (str, int, backend.device)):
                device = a
            else:
                dtype = a
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        if isinstance(dtype, Tensor):  # model.to(tensor): that tensor's dtype and device
            dtype, device = dtype.dtype, dtype.device
        if device is not None:
            dev = check_device(device, "to")
            self._apply_arrays(lambda a: backend.move(a, dev))
        if dtype is None:
            return self
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"to: only floating dtypes are allowed for a module, got {dt}")
        return self._apply_arrays(lambda a: a.astype(dt, copy=False) if a.dtype.kind == "f"
                                  else a)

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def cpu(self) -> Module:
        """Move every parameter and buffer to the host (in place; returns self)."""
        return self.to(backend.CPU)

    def cuda(self, device: Any = None) -> Module:
        """Move every parameter and buffer to the GPU (``to("cuda")``); ValueError when no GPU
        backend is at hand."""
        return self.to(check_device("cuda" if device is None else f"cuda:{device}", "cuda"))

    # ---- state dict ------------------------------------------------------------------------
    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(key, tensor) in state-dict order: per module, its parameters then its persistent
        buffers, then its children's recursively (shared tensors appear under each name)."""
        for mod_prefix, mod in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = mod_prefix + ("." if mod_prefix else "")
            for k, p in mod._parameters.items():
                if p is not None:
                    yield dot + k, p
            skip = mod._non_persistent_buffers_set
            for k, b in mod._buffers.items():
                if b is not None and k not in skip:
                    yield dot + k, b

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """An OrderedDict ``name -> value`` of every parameter, then every persistent buffer,
        module by module - PyTorch's key names and order, so
        ``{k: torch.from_numpy(v) for k, v in model.state_dict().items()}`` loads into the
        equivalent PyTorch model. Each value is a NumPy array that shares the parameter's memory
        (as in PyTorch: snapshot with ``v.clone()`` / ``v.copy()``) and behaves like a detached
        tensor (``v.clone()``, ``v.numpy()``, ``v.cpu()``: see :mod:`deepwise.nn.state_value`).
        ``keep_vars=True`` gives the tensors themselves."""
        from .state_value import state_value

        out = OrderedDict() if destination is None else destination
        for k, t in self._state_items(prefix):
            out[k] = t if keep_vars else state_value(t.data)
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, in place.

        Values may be NumPy arrays, deepwise tensors, or PyTorch tensors (also converted with
        ``{k: v.numpy() ...}``). Everything is checked before anything is copied: one
        ``RuntimeError`` lists the missing keys, the unexpected keys and the keys whose shapes
        differ (with both shapes), and the model is left untouched. Wrong shapes always raise;
        missing/unexpected keys raise only when ``strict``. Returns ``(missing, unexpected)``.
        With ``assign=True`` the arrays are taken as they are (not copied into the old ones).
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got "
                            f"{type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched, todo = [], []
        for k, t in own.items():
            if k not in state_dict:
                continue
            arr = _as_array(state_dict[k], k)
            if arr.shape != t.data.shape:
                mismatched.append(f"{k}: copying a param with shape {tuple(arr.shape)}, the "
                                  f"shape in the current model is {tuple(t.data.shape)}")
            else:
                todo.append((t, arr))
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected))
        if mismatched:
            errors.append("Size mismatch for " + "; ".join(mismatched))
        hint = state_dict_prefix_hint(own, state_dict.keys()) if errors else ""
        if hint:
            errors.append("Hint: " + hint)
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for t, arr in todo:  # onto the device each parameter lives on (host files, GPU models)
            arr = backend.move(arr, t.device)
            if assign:
                t.data = arr.copy() if backend.is_device_array(arr) else np.array(arr, copy=True)
            else:
                backend.get_array_module(t.data).copyto(t.data, arr, casting="unsafe")
            t._version += 1
        return IncompatibleKeys(missing, unexpected)

    # ---- hooks and the call ----------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any], *,
                                  prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before ``forward``; a returned value replaces the
        positional args (a non-tuple is wrapped). Returns a handle; ``handle.remove()``."""
        lst = self._forward_pre_hooks
        lst.insert(0, hook) if prepend else lst.append(hook)
        return RemovableHandle(lst, hook)

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any], *,
                              prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a returned value replaces the
        output (e.g. to record activations, or to edit them). Returns a removable handle."""
        lst = self._forward_hooks
        lst.insert(0, hook) if prepend else lst.append(hook)
        return RemovableHandle(lst, hook)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        stack = _calls.stack
        stack.append(self)
        try:
            if _global_forward_pre_hooks or self._forward_pre_hooks:
                for hook in (*_global_forward_pre_hooks, *self._forward_pre_hooks):
                    res = hook(self, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)
            out = self.forward(*args, **kwargs)
            if _global_forward_hooks or self._forward_hooks:
                for hook in (*_global_forward_hooks, *self._forward_hooks):
                    res = hook(self, args, out)
                    if res is not None:
                        out = res
            return out
        except (ShapeError, DTypeError, DeviceError) as e:
            if getattr(e, "module", None) is None:
                e.module = self  # the innermost module that saw the error
            if len(stack) == 1 and not getattr(e, "layer_path", None):
                self._add_layer_path(e)
            raise
        finally:
            stack.pop()

    def _add_layer_path(self, e: ShapeError | DTypeError | DeviceError) -> None:
        """Put the failing layer's path and label in front of the error's message."""
        failing = e.module
        path = None
        for name, m in self.named_modules(prefix=ROOT_NAME):
            if m is failing:
                path = name
                break
        if path is None:  # called from a forward without being registered as a sub-module
            path = f"{ROOT_NAME}.<unregistered {type(failing).__name__}>"
        e.layer_path = path
        msg = str(e.args[0]) if e.args else ""
        e.args = (f"{path} ({failing.short_repr()}): {msg}", *e.args[1:])

    # ---- printing --------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The hyper-parameters shown inside ``Name(...)`` in the printed model."""
        return ""

    def short_repr(self) -> str:
        """A short label for error messages, like ``Linear 256->10`` (default: the class
        name)."""
        return self._get_name()

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def summary(self, input_shape: Any = None, dtype: Any = np.float32, *,
                batch_size: int = 1, input: Any = None,  # noqa: A002 - Keras/torchinfo's name
                print_fn: Callable[[str], Any] | None = print) -> Any:
        """Keras-style table of the layers: path, type, output shape, parameter count, totals.
        See :func:`deepwise.nn.summary`."""
        from .summary import summary
        return summary(self, input_shape, dtype, batch_size=batch_size, input=input,
                       print_fn=print_fn)
