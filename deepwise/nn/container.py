"""Containers: Sequential (a chain of layers), ModuleList and ModuleDict (registered lists),
ParameterList and ParameterDict (registered parameters)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module, _addindent
from .parameter import Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict"]
__all__ += ["ParameterList", "ParameterDict"]


def _index(idx: Any, n: int, what: str) -> int:
    i = int(idx)
    if not -n <= i < n:
        raise IndexError(f"{what}: index {i} is out of range for {n} modules")
    return i % n


class Sequential(Module):
    """A chain of modules: ``forward(x)`` feeds ``x`` through each in order.

    Sub-modules are named ``"0"``, ``"1"``, ... (or by the keys of an OrderedDict), as in
    PyTorch, so ``state_dict`` keys read ``0.weight``, ``2.bias``.

    Shape: input of the first module -> output of the last.

    >>> from deepwise import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> len(model), type(model[0]).__name__, len(model[1:])
    (3, 'Linear', 2)
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, idx: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        return items[_index(idx, len(items), "Sequential")][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self._modules), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        drop = keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(keys),
                                                                      "Sequential")]]
        for k in drop:
            del self._modules[k]
        if all(k.isdigit() for k in self._modules):  # renumber 0..n-1, as PyTorch does
            self.__dict__["_modules"] = {str(i): m for i, m in
                                         enumerate(self._modules.values())}

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position); returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (sub-modules are renumbered)."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: {type(module).__name__} is not a Module")
        mods = list(self._modules.values())
        n = len(mods)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for {n} modules")
        mods.insert(index % (n + 1) if index < 0 else index, module)
        self.__dict__["_modules"] = {str(i): m for i, m in enumerate(mods)}
        return self


class ModuleList(Module):
    """A list of modules, registered (so their parameters are found), without a forward.

    >>> from deepwise import nn
    >>> layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
    >>> len(list(layers.parameters()))
    6
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return type(self)(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(idx, len(mods), "ModuleList")]
        self.__dict__["_modules"] = {str(i): m for i, m in enumerate(mods)}

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable of modules, "
                            f"got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        self.__dict__["_modules"] = {}
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __repr__(self) -> str:
        # runs of identical sub-modules print once: "(0-2): 3 x Linear(...)", as in PyTorch
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return "ModuleList()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i < len(reprs) and reprs[i] == reprs[start]:
                continue
            n = i - start
            label = f"({start})" if n == 1 else f"({start}-{i - 1})"
            body = reprs[start] if n == 1 else f"{n} x {reprs[start]}"
            lines.append(f"{label}: " + _addindent(body, 2))
            start = i
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (insertion-ordered), registered under their keys.

    >>> from deepwise import nn
    >>> heads = nn.ModuleDict({"cls": nn.Linear(8, 3), "box": nn.Linear(8, 4)})
    >>> list(heads.keys())
    ['cls', 'box']
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self._modules[key]
        return m

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for j, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"ModuleDict.update: element #{j} should be a (key, module) "
                                 f"pair, got length {len(pair)}")
            self[pair[0]] = pair[1]


def _as_parameter(value: Any, where: str) -> Any:
    """PyTorch's rule for parameter containers: a plain tensor becomes a Parameter; a Parameter
    is kept as it is (shared, not copied); other values (a module, None) are stored as given."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value.data)
    if value is not None and not isinstance(value, (Parameter, Module)):
        raise TypeError(f"{where}: expected a Parameter or a tensor, got {type(value).__name__}")
    return value


class ParameterList(Module):
    """A list of parameters, registered under ``"0"``, ``"1"``, ... (so ``parameters()`` and the
    state dict find them), without a forward. Tensors are wrapped as Parameters.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> ws = nn.ParameterList([nn.Parameter(dw.randn(4, 4)) for _ in range(3)])
    >>> len(ws), sorted(ws.state_dict())
    (3, ['0', '1', '2'])
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self.__dict__["_size"] = 0
        if values is not None:
            self.extend(values)

    def _set(self, i: int, value: Any) -> None:
        value = _as_parameter(value, "ParameterList")
        if isinstance(value, Module):
            self.add_module(str(i), value)
        else:
            self.register_parameter(str(i), value)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(len(self))[idx]])
        key = str(_index(idx, len(self), "ParameterList"))
        return self._parameters[key] if key in self._parameters else self._modules[key]

    def __setitem__(self, idx: int, value: Any) -> None:
        self._set(_index(idx, len(self), "ParameterList"), value)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Any) -> ParameterList:
        self.__dict__["_size"] = self._size + 1
        self._set(self._size - 1, value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, Tensor) or not isinstance(values, Iterable):
            raise TypeError("ParameterList.extend should be called with an iterable, got "
                            f"{type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        lines = []
        for i, p in enumerate(self):
            if isinstance(p, Tensor):
                size = "x".join(str(n) for n in p.shape)
                lines.append(f"({i}): Parameter containing: [{type(p).__name__} of size {size}]")
            else:
                lines.append(f"({i}): Object of type: {type(p).__name__}")
        return "\n".join(lines)


class ParameterDict(Module):
    """A dict of parameters, registered under their keys (insertion order; a plain dict given to
    the constructor or ``update`` is added in sorted key order, as PyTorch does). Tensors are
    wrapped as Parameters.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> pd = nn.ParameterDict({"scale": nn.Parameter(dw.ones(3)), "shift": dw.zeros(3)})
    >>> list(pd.keys()), type(pd["shift"]).__name__
    (['scale', 'shift'], 'Parameter')
    """

    def __init__(self, parameters: Mapping[str, Any] | Iterable | None = None) -> None:
        super().__init__()
        self.__dict__["_keys"] = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(f"ParameterDict has no key {key!r} (keys: {list(self._keys)})")
        return self._parameters[key] if key in self._parameters else self._modules[key]

    def __setitem__(self, key: str, value: Any) -> None:
        value = _as_parameter(value, f"ParameterDict[{key!r}]")
        self._keys[key] = None
        if isinstance(value, Module):
            self.add_module(key, value)
        else:
            self.register_parameter(key, value)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - the KeyError with the keys
        del self._keys[key]
        self._forget(key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> Iterable[str]:
        return self._keys.keys()

    def items(self) -> Iterable[tuple[str, Any]]:
        return [(k, self[k]) for k in self._keys]

    def values(self) -> Iterable[Any]:
        return [self[k] for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._keys else default

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def update(self, parameters: Mapping[str, Any] | Iterable) -> None:
        """Add or replace entries. As in PyTorch, a plain dict's entries are added in sorted key
        order (an OrderedDict, a ParameterDict or a list of pairs keeps its order), so
        ``parameters()`` comes out in the same order as PyTorch's."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs: Any = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for j, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"ParameterDict.update: element #{j} should be a (key, value) "
                                 f"pair, got length {len(pair)}")
            self[pair[0]] = pair[1]

    def extra_repr(self) -> str:
        lines = []
        for k, p in self.items():
            size = "x".join(str(n) for n in p.shape) if isinstance(p, Tensor) else ""
            lines.append(f"({k}): Parameter containing: [{type(p).__name__} of size {size}]")
        return "\n".join(lines)
