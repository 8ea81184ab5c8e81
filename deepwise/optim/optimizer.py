"""Optimizer: the base class that walks the parameters and applies one update rule to each.

A subclass states its rule in two methods, both on raw NumPy arrays:

- ``_init_state(p, group)``: the per-parameter state (moment buffers, step count) made on the
  parameter's first step;
- ``_update(p, g, state, group)``: one step for one parameter, in place on ``p`` (``out=`` and
  in-place ufuncs; scratch space comes from :meth:`Optimizer._tmp`, reused between steps).

The base class does everything else the same way for every optimizer: parameter groups with their
own options, ``zero_grad``, ``step(closure)``, and a ``state_dict`` whose per-parameter state is
keyed by the parameter's position (0, 1, 2 ... across the groups, in order), so a checkpoint made in
one process resumes exactly in another.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import ShapeError, enable_grad
from ..backend import get_array_module, is_device_array, to_numpy
from ..tensor import Tensor

__all__ = ["Optimizer"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class of every optimizer.

    ``params``: an iterable of tensors, or of dicts (parameter groups) such as
    ``[{"params": model.body.parameters()}, {"params": model.head.parameters(), "lr": 1e-2}]``;
    options missing from a group come from ``defaults``.

    Attributes: ``param_groups`` (list of dicts, each with ``"params"`` and its options),
    ``state`` (dict: parameter tensor -> its state dict of arrays and counters), ``defaults``.

    Subclasses implement ``_init_state``, ``_update`` and ``_validate`` (which raises ValueError
    naming a bad option).
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self._validate(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._scratch: dict[tuple[np.dtype, int], np.ndarray] = {}
        what = ("params must be an iterable of tensors or of dicts (parameter groups), got")
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: {what} a single Tensor; wrap it in a list")
        if callable(getattr(params, "parameters", None)) and hasattr(params, "named_modules"):
            raise TypeError(f"{self._name}: {what} the model ({type(params).__name__}) itself; "
                            f"pass model.parameters(): {self._name}(model.parameters(), ...)")
        # a generator read before (model.parameters() given to a first optimizer) is empty too
        used_up = inspect.isgenerator(params) and \
            inspect.getgeneratorstate(params) == inspect.GEN_CLOSED
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{self._name}: {what} a {type(params).__name__}") from None
        if not params:
            if used_up:
                raise ValueError(f"{self._name}: got an empty parameter list: the generator was "
                                 "already used up (model.parameters() can be read once - was it "
                                 "given to another optimizer, or turned into a list before?); "
                                 "call model.parameters() again")
            raise ValueError(f"{self._name}: got an empty parameter list (a model registers its "
                             "parameters by assigning nn.Parameter or nn.Module attributes in "
                             "__init__; a plain Python list of layers needs nn.ModuleList)")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _check_options(self, group: dict[str, Any]) -> None:
        """Raise TypeError naming the option when a number was given as a string (``lr="0.1"``,
        e.g. read from a config file) or lr is not a number, before any comparison fails."""
        for key, value in group.items():
            if key == "params" or not isinstance(value, str):
                continue
            try:
                float(value)
            except ValueError:
                continue
            raise TypeError(f"{self._name}: {key} must be a number, got the string {value!r}; "
                            f"write {key}={value} (convert a value read from text with float())")
        lr = group.get("lr", 0.0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)):
            raise TypeError(f"{self._name}: lr must be a number, got {type(lr).__name__} {lr!r}")

    # ---- what a subclass provides ---------------------------------------------------------
    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError if an option of ``group`` is out of range (the base checks lr)."""
        if "lr" in group:
            self._require(group, "lr", group["lr"] >= 0, ">= 0")

    def _init_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The state of parameter ``p`` before its first update."""
        return {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Update ``p`` in place from its gradient ``g`` (never modify ``g``)."""
        raise NotImplementedError(f"{self._name} must implement _update")

    # ---- helpers for subclasses -----------------------------------------------------------
    def _require(self, group: dict[str, Any], key: str, ok: bool, expected: str) -> None:
        if not ok:
            raise ValueError(f"{self._name}: invalid {key}={group[key]!r} (expected {expected})")

    def _require_betas(self, group: dict[str, Any]) -> None:
        """The Adam family's ``betas``: two coefficients, each in [0, 1)."""
        betas = group["betas"]
        self._require(group, "betas", len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
                      "two numbers, each in [0, 1)")

    def _tmp(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A scratch array shaped like ``like`` (uninitialised), reused across parameters and
        steps: ``slot`` tells apart the buffers that one update needs at the same time."""
        xp = get_array_module(like)
        key = (xp.__name__, like.dtype, slot)
        buf = self._scratch.get(key)
        if buf is None or buf.size < like.size:
            buf = self._scratch[key] = xp.empty(like.size, like.dtype)
        return buf[:like.size].reshape(like.shape)

    def _axpy(self, y: np.ndarray, a: float, x: np.ndarray) -> None:
        """y += a * x in place (the product goes through scratch slot 0)."""
        xp = get_array_module(y)
        if a == 1:
            xp.add(y, x, out=y)
            return
        t = self._tmp(y, 0)
        xp.multiply(x, a, out=t)
        xp.add(y, t, out=y)

    def _grad_term(self, p: np.ndarray, g: np.ndarray, group: dict[str, Any],
                   weight_decay: float) -> np.ndarray:
        """The gradient the rule uses: ``g`` (negated if ``maximize``) plus ``weight_decay * p``
        (L2 regularisation folded into the gradient). Returns ``g`` itself when it needs no
        change, else scratch slot 1 - never a modified ``g``."""
        maximize = group.get("maximize", False)
        if not maximize and not weight_decay:
            return g
        xp = get_array_module(p)
        d = self._tmp(p, 1)
        if not weight_decay:
            return xp.negative(g, out=d)
        xp.multiply(p, weight_decay, out=d)  # two passes: d = lambda p, then d = d -/+ g
        return xp.subtract(d, g, out=d) if maximize else xp.add(d, g, out=d)

    # ---- the public API ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a layer unfrozen mid-training);
        options it does not give come from ``defaults``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}.add_param_group: the group has no 'params' key")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{self._name}: parameters must be in an ordered collection (a list), "
                            "not a set: a set's order changes between runs, and so would the "
                            "state_dict's positions")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter #{i} of "
                                f"the group is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"{self._name}: can't optimize a non-leaf tensor (parameter #{i} "
                                 f"was made by {p.grad_fn!r}); optimize the leaf it came from")
            if p.dtype.kind != "f":
                raise TypeError(f"{self._name}: can only optimize floating-point tensors, "
                                f"parameter #{i} is {p.dtype}")
        group = {**self.defaults, **param_group, "params": params}
        self._check_options(group)
        self._validate(group)
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self._name}: a parameter group lists the same tensor twice "
                             "(it would be updated twice per step)")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter "
                             "group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: ``.grad = None`` (default: frees the memory, and a parameter
        that gets no gradient next time is then skipped by ``step``), or fill them with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.data.flags.writeable:
                    p.grad.grad_fn = None
                    p.grad.data.fill(0)
                else:
                    p.grad = Tensor._make(get_array_module(p.data).zeros_like(p.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (those whose ``.grad`` is None are
        skipped), group by group, in order. ``closure`` (optional) re-evaluates the model and
        returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise ShapeError(f"{self._name}.step: a parameter of shape {p.data.shape} has "
                                     f"a gradient of shape {g.shape}")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._init_state(p.data, group)
                self._update(p.data, g, state, group)
                p._version += 1  # the data changed in place: a graph that saved it must know
        return loss

    # ---- checkpoints --------------------------------------------------------------------------
    def _positions(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer: ``{"state": {position: {name: array or number}},
        "param_groups": [{options..., "params": [positions]}]}``.

        Positions number the parameters 0, 1, 2 ... across the groups in order; arrays are
        copies, so the snapshot does not change as training goes on."""
        state: dict[int, dict[str, Any]] = {}
        groups = []
        pos = 0
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(pos, pos + len(group["params"])))
            groups.append(packed)
            for p in group["params"]:
                if p in self.state:
                    state[pos] = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                                  for k, v in self.state[p].items()}
                pos += 1
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (from an optimizer built on the same parameters in the
        same order): options and per-parameter state; arrays are copied and cast to each
        parameter's dtype."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the state dict has "
                             f"{len(saved_groups)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} has "
                                 f"{len(saved['params'])} parameters in the state dict, "
                                 f"{len(mine['params'])} here")
        by_position = {}
        for mine, saved in zip(self.param_groups, saved_groups):
            for idx, p in zip(saved["params"], mine["params"]):
                by_position[int(idx)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for idx, st in state_dict["state"].items():
            p = by_position.get(int(idx))
            if p is None:
                raise ValueError(f"{self._name}.load_state_dict: state for parameter position "
                                 f"{idx}, which no parameter group lists")
            new_state[p] = {k: self._cast_state(k, v, p, idx) for k, v in st.items()}
        self.state = new_state
        self.param_groups = [{**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}),
                              "params": mine["params"]}
                             for mine, saved in zip(self.param_groups, saved_groups)]

    def _cast_state(self, key: str, value: Any, p: Tensor, idx: Any) -> Any:
        if isinstance(value, Tensor):
            value = value.data
        if not (isinstance(value, np.ndarray) or is_device_array(value)):
            return copy.deepcopy(value)
        if value.shape != p.data.shape:
            raise ShapeError(f"{self._name}.load_state_dict: state {key!r} of parameter "
                             f"position {idx} has shape {value.shape}, the parameter has shape "
                             f"{p.data.shape}")
        dtype = p.dtype if value.dtype.kind == "f" else value.dtype
        xp = get_array_module(p.data)  # the state goes where its parameter lives
        return xp.array(to_numpy(value) if xp is np else value, dtype=dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
