"""Look inside a model on one batch: activation statistics per layer, and dead ReLU units.

``layers(model, x)`` runs one forward pass with a global forward hook and tabulates, for every
layer, the output's mean, std, fraction of zeros, min and max - the first thing to look at when a
network does not learn (activations exploding layer by layer, or all squashed to 0 or 1).

``dead_units(model, x)`` finds the ReLU units that output 0 for every sample of the batch: such a
unit passes no gradient (ReLU's derivative is 0 there), so its weights stop learning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import enable_grad, no_grad, observe_forward
from ..nn.module import Module, module_call_stack, register_module_forward_hook
from ..nn.summary import summary as nn_summary
from ..tensor import Tensor, as_tensor
from ._common import fmt, module_names

__all__ = ["layers", "LayerStats", "LayersReport", "dead_units", "DeadUnits", "DeadUnitsReport"]


def _first_tensor(out: Any) -> Tensor | None:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _inputs(model: Module, x: Any) -> tuple[Tensor, ...]:
    """The batch as tensors. A NumPy array or list of floats (float64 by NumPy's default) takes
    the dtype of the model's first floating parameter, as the user meant; tensors are passed
    unchanged (a float64 tensor into a float32 model raises the layer's dtype error)."""
    xs = x if isinstance(x, tuple) else (x,)
    dt = next((p.dtype for p in model.parameters() if p.dtype.kind == "f"), None)
    out = []
    for v in xs:
        if not isinstance(v, Tensor):
            a = np.asarray(v)
            v = as_tensor(a.astype(dt) if dt is not None and a.dtype.kind == "f" else a)
        out.append(v)
    return tuple(out)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], right_from: int) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt_row = "  ".join(f"{{:<{w}}}" if i < right_from else f"{{:>{w}}}"
                        for i, w in enumerate(widths))
    lines = [fmt_row.format(*head), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += [fmt_row.format(*r) for r in rows]
    return "\n".join(lines)


@dataclass
class LayerStats:
    """Statistics of one layer's output on a batch."""

    name: str
    type: str
    shape: tuple[int, ...]
    params: int
    mean: float
    std: float
    frac_zero: float
    min: float
    max: float


@dataclass
class LayersReport:
    """What :func:`layers` returns: ``rows`` (LayerStats, in call order), the model's
    ``summary`` (``nn.summary``'s ModelSummary); ``str()`` is the table."""

    rows: list[LayerStats]
    summary: Any = None
    training: bool = False
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> LayerStats:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"layers: no layer {name!r}; have {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        head = ("Layer", "Type", "Output shape", "Params", "mean", "std", "zero", "min", "max")
        body = [(r.name, r.type, str(r.shape), f"{r.params:,}", fmt(r.mean), fmt(r.std),
                 f"{100 * r.frac_zero:.1f}%", fmt(r.min), fmt(r.max)) for r in self.rows]
        mode = "train" if self.training else "eval"
        text = f"Activations per layer (one batch, {mode} mode)\n" + _table(head, body, 3)
        return text + "".join("\n" + n for n in self.notes)


def layers(model: Module, x: Any, *, training: bool = False) -> LayersReport:
    """Per-layer output statistics of ``model`` on the batch ``x`` (a tensor, or an array:
    floats are given the model's dtype).

    Runs one forward pass under ``no_grad`` in eval mode (``training=True``: train mode, e.g. to
    see dropout and batch statistics; running statistics of batch norm are then updated, as in
    any training-mode forward); the model's mode is restored afterwards. Rows are the modules
    without children, in the order they ran, named by their path (``fc1``, ``layers.0``).
    Also runs ``nn.summary`` for the parameter counts (``report.summary``).
    """
    xs = _inputs(model, x)
    names = module_names(model)
    rows: list[LayerStats] = []
    calls: dict[int, int] = {}
    was_training = model.training
    summ = nn_summary(model, input=list(xs), print_fn=None)
    counts = {r[0]: r[3] for r in summ.rows}

    def hook(module: Module, args: tuple, out: Any) -> None:
        if module._modules or id(module) not in names:
            return
        t = _first_tensor(out)
        if t is None or t.data.dtype.kind != "f":
            return
        name = names[id(module)] or "model"
        calls[id(module)] = calls.get(id(module), 0) + 1
        if calls[id(module)] > 1:
            name += f" (call {calls[id(module)]})"
        a = t.data.astype(np.float64, copy=False)
        rows.append(LayerStats(name, type(module).__name__, tuple(a.shape),
                               counts.get(names[id(module)], 0), float(a.mean()), float(a.std()),
                               float(np.count_nonzero(a == 0) / max(a.size, 1)),
                               float(a.min()), float(a.max())))

    model.train(training)
    try:
        with no_grad(), register_module_forward_hook(hook):
            model(*xs)
    finally:
        model.train(was_training)
    notes = []
    for prev, cur in zip(rows, rows[1:]):
        if prev.std > 0 and cur.std > 100 * prev.std and cur.std > 10:
            notes.append(f"note: the std grows x{cur.std / prev.std:.0f} from {prev.name} to "
                         f"{cur.name}: activations may be exploding (check the init scale).")
    return LayersReport(rows, summ, training, notes)


# --------------------------------------------------------------------------------------------
# dead ReLU units


@dataclass
class DeadUnits:
    """One ReLU's outputs on a batch: ``units`` (features, or channels for (N, C, H, W)),
    ``dead`` (units that are 0 for every sample), ``frac_dead``, ``frac_zero`` (of all
    outputs)."""

    name: str
    shape: tuple[int, ...]
    units: int
    dead: int
    frac_dead: float
    frac_zero: float


class DeadUnitsReport(list):
    """What :func:`dead_units` returns: a list of DeadUnits; ``report["fc1 relu"]`` by name;
    ``str()`` is a table."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for r in self:
                if r.name == key:
                    return r
            raise KeyError(f"dead_units: no ReLU {key!r}; have {[r.name for r in self]}")
        return super().__getitem__(key)

    def __str__(self) -> str:
        head = ("ReLU", "Output shape", "Units", "Dead", "Dead %", "Zero %")
        body = [(r.name, str(r.shape), str(r.units), str(r.dead), f"{100 * r.frac_dead:.1f}%",
                 f"{100 * r.frac_zero:.1f}%") for r in self]
        return ("Dead ReLU units (0 for every sample of the batch)\n" + _table(head, body, 2)
                if body else "No ReLU ran in this forward pass.")


def _unit_axis(ndim: int) -> int:
    """Channels (axis 1) for conv maps (N, C, ...) with ndim >= 4; else features (last axis)."""
    return 1 if ndim >= 4 else ndim - 1


def dead_units(model: Module, x: Any) -> DeadUnitsReport:
    """For each ReLU that runs in ``model(x)`` (an ``nn.ReLU`` or an ``F.relu`` call inside a
    forward), the fraction of its units that output 0 for the whole batch.

    A unit is a feature of a (N, F) or (N, T, F) output, a channel of a (N, C, H, W) one. The
    forward runs in eval mode (restored afterwards); the graph it records is dropped.
    """
    xs = _inputs(model, x)
    xs = tuple(Tensor._make(v.data).requires_grad_() if v.data.dtype.kind == "f" else v
               for v in xs)  # so that every op is recorded, and seen
    names = module_names(model)
    seen: dict[str, int] = {}
    report = DeadUnitsReport()

    def watch(node: Any, outputs: tuple) -> None:
        if node.name != "ReLU":
            return
        stack = module_call_stack()
        inner = stack[-1] if stack else None
        path = names.get(id(inner), "") if inner is not None else ""
        label = (path or "model") if type(inner).__name__ == "ReLU" else \
            f"{path or 'model'} relu"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label += f" #{seen[label]}"
        a = outputs[0].data
        if a.ndim == 0:
            return
        axis = _unit_axis(a.ndim) if a.ndim > 1 else 0
        other = tuple(i for i in range(a.ndim) if i != axis)
        alive = np.any(a != 0, axis=other) if other else a != 0
        units = int(alive.size)
        dead = int(units - np.count_nonzero(alive))
        report.append(DeadUnits(label, tuple(a.shape), units, dead, dead / max(units, 1),
                                float(np.count_nonzero(a == 0) / max(a.size, 1))))

    was_training = model.training
    model.eval()
    try:
        with enable_grad(), observe_forward(watch):
            model(*xs)
    finally:
        model.train(was_training)
    return report
