"""Backpropagation, narrated: run ``loss.backward()`` and describe every node it visits.

Each recorded op is one node of the graph. Backward visits the nodes in reverse topological order
(every consumer of a tensor before the op that made it) and at each applies the chain rule::

    dL/d(input) = dL/d(output) * d(output)/d(input)
       outgoing  =   incoming   *  local derivative

:func:`backprop` watches that walk through ``deepwise.autograd.observe_backward`` and returns one
:class:`Step` per node: the op, the shapes in and out, the local derivative (the first line of the
op's docstring) and the gradients coming in and going out - numbers for small tensors, a summary
(mean, std, norm, min, max) for large ones.

>>> import deepwise as dw
>>> from deepwise import explain
>>> w = dw.tensor([2.0, -1.0], requires_grad=True)
>>> steps = explain.backprop((w * w).sum(), params={"w": w})
>>> [s.op for s in steps]
['Sum', 'Mul']
>>> print(steps)                                                     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..autograd import Function, observe_backward
from ..tensor import Tensor
from ._common import ArraySummary, derivative_line, param_names, walk

__all__ = ["Step", "Steps", "backprop", "format_steps"]


@dataclass
class Step:
    """One node of the backward walk.

    ``index``: the node's position in the forward order (1 = the first op recorded);
    ``inputs``: what each input is (a parameter's name, ``[3] Add`` for another op's output,
    ``input`` for a leaf without a name, ``constant``); ``grad_outputs``: dL/d(each output), coming
    in; ``grad_inputs``: dL/d(each input), going out (None where no gradient is needed).
    """

    index: int
    op: str
    derivative: str
    inputs: list[str]
    input_shapes: list[tuple[int, ...] | None]
    output_shapes: list[tuple[int, ...]]
    input_values: list[ArraySummary | None]
    output_values: list[ArraySummary | None]
    grad_outputs: list[ArraySummary | None]
    grad_inputs: list[ArraySummary | None]

    @property
    def label(self) -> str:
        return f"[{self.index}] {self.op}"

    def __str__(self) -> str:
        ins = ", ".join("-" if s is None else str(s) for s in self.input_shapes)
        outs = ", ".join(str(s) for s in self.output_shapes)
        lines = [f"{self.label}: {ins} -> {outs}", f"    local derivative: {self.derivative}"]
        for i, (name, val) in enumerate(zip(self.inputs, self.input_values)):
            if val is not None:
                lines.append(f"    input  #{i} = {name}: {val}")
        for i, val in enumerate(self.output_values):
            if val is not None:
                lines.append(f"    output #{i}: {val}")
        for i, g in enumerate(self.grad_outputs):
            if g is not None:
                lines.append(f"    incoming dL/d(output #{i}): {g}")
        for i, (name, g) in enumerate(zip(self.inputs, self.grad_inputs)):
            if g is not None:
                lines.append(f"    outgoing dL/d(input #{i}) -> {name}: {g}")
        return "\n".join(lines)


class Steps(list):
    """The list of :class:`Step` that :func:`backprop` returns; ``str()`` gives the narration,
    and ``leaves`` the gradients left on the named leaves, as (name, ArraySummary)."""

    leaves: list[tuple[str, ArraySummary]]

    def __init__(self, steps: list[Step] = (), leaves: list | None = None) -> None:
        super().__init__(steps)
        self.leaves = leaves or []

    def __str__(self) -> str:
        return format_steps(self)

    __repr__ = list.__repr__


def format_steps(steps: list[Step]) -> str:
    """The narration of a backward walk as text (what ``print(steps)`` shows)."""
    head = (f"Backward, node by node ({len(steps)} ops, in reverse topological order). At each: "
            "outgoing = incoming * local derivative (the chain rule).")
    parts = [head, ""] + [str(s) + "\n" for s in steps]
    leaves = getattr(steps, "leaves", None)
    if leaves:
        parts.append("Gradients left on the leaves (.grad):")
        parts += [f"    {name}: {g}" for name, g in leaves]
    return "\n".join(parts).rstrip() + "\n"


def backprop(loss: Tensor, *, params: Any = None, max_numbers: int = 8, gradient: Any = None,
             retain_graph: bool = False) -> Steps:
    """Run ``loss.backward()`` and return what happened at each node, as a list of Step.

    ``params``: a Module or ``model.named_parameters()`` (or a dict name -> tensor) to call the
    leaves by their names. Tensors with at most ``max_numbers`` entries are shown in full.
    ``gradient``/``retain_graph``: as for ``Tensor.backward``. The leaves' ``.grad`` accumulate,
    exactly as with a plain ``loss.backward()``.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"backprop: expected a Tensor (a loss), got {type(loss).__name__}")
    if loss.grad_fn is None:
        raise RuntimeError("backprop: this tensor has no grad_fn, so there is no graph to walk "
                           "(did a parameter require grad? was it computed under no_grad()?)")
    names = param_names(params)
    order, outputs = walk(loss)
    index = {node: k + 1 for k, node in enumerate(order)}
    leaf_ids: dict[int, str] = {}
    leaves: list[Tensor] = []

    def input_name(t: Tensor | None) -> str:
        if t is None:
            return "constant"
        if t.grad_fn is not None:
            f = t.grad_fn
            nr = f"[{t._output_nr}]" if f.n_outputs > 1 else ""
            return f"[{index.get(f, '?')}] {f.name}{nr}"
        if id(t) in names:
            name = names[id(t)]
        elif t.requires_grad:
            name = leaf_ids.get(id(t)) or f"leaf {len(leaf_ids)}"
        else:
            return "data (no grad)"
        if id(t) not in leaf_ids and t.requires_grad:
            leaf_ids[id(t)] = name
            leaves.append(t)
        return name

    steps: list[Step] = []

    def watch(node: Function, grad_outputs: tuple, grad_inputs: tuple) -> None:
        if node not in index:  # another graph backpropagating at the same time
            return
        outs = outputs.get(node, {})
        n_out = node.n_outputs
        out_meta = getattr(node, "out_meta", None) if n_out > 1 else None
        out_shapes = [tuple(out_meta[i][0]) if out_meta else tuple(outs[i].shape)
                      if i in outs else tuple(grad_outputs[i].shape) for i in range(n_out)]

        def summ(a: Any) -> ArraySummary | None:
            return None if a is None else ArraySummary.of(a, max_numbers)

        steps.append(Step(
            index=index[node], op=node.name, derivative=derivative_line(node),
            inputs=[input_name(t) for t in node.inputs],
            input_shapes=[None if t is None else tuple(t.shape) for t in node.inputs],
            output_shapes=out_shapes,
            input_values=[summ(t) for t in node.inputs],
            output_values=[summ(outs.get(i)) for i in range(n_out)],
            grad_outputs=[summ(g) for g in grad_outputs],
            grad_inputs=[summ(g) if need else None
                         for g, need in zip(grad_inputs, node.needs_input_grad)]))

    with observe_backward(watch):
        loss.backward(gradient, retain_graph=retain_graph)
    rank = {k: i for i, k in enumerate(names)}  # the parameters' own order first
    leaves.sort(key=lambda t: rank.get(id(t), len(rank)))
    grads = [(leaf_ids[id(t)], ArraySummary.of(t.grad, max_numbers)) for t in leaves
             if t.grad is not None]
    return Steps(steps, grads)

