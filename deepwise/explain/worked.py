"""Backpropagation by hand, on the classic textbook numbers, checked three ways.

The network of Matt Mazur's "A Step by Step Backpropagation Example" (2015), with its one first
output (a 2-2-1 network, sigmoid everywhere, squared error, one sample)::

    i1 = 0.05 --w1=.15--> h1                       inputs i1, i2; hidden h1, h2; output o
    i2 = 0.10 --w2=.20--> h1    --w5=.40-->  o      net_h1 = w1 i1 + w2 i2 + b1   (b1 = .35)
    i1        --w3=.25--> h2    --w6=.45-->  o      out_h1 = sigmoid(net_h1)  (same for h2)
    i2        --w4=.30--> h2                       net_o  = w5 out_h1 + w6 out_h2 + b2 (b2=.60)
                                                   E = 1/2 (target - out_o)^2  (target = .01)

The chain rule splits every dE/dw into local derivatives, one per edge of the graph. For each
partial derivative :func:`worked_example` computes the value three ways - by the chain rule written
out (the textbook), by deepwise's autograd, and by central finite differences (nudge the quantity
by +-eps, watch E move) - and shows that they agree. Mazur's numbers to compare: E = 0.274811083,
dE/dw5 = 0.082167041, and after one step with learning rate 0.5, w5 = 0.35891648. (His hidden-layer
gradients differ from these: his network has a second output that also sends gradient back.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import grad
from ..ops.activation import sigmoid
from ..tensor import Tensor, tensor
from ._common import fmt
from .backprop import Steps, backprop

__all__ = ["worked_example", "WorkedExample", "Derivative", "MAZUR"]

#: Mazur's inputs, weights and target (the first output's weights w5, w6 and bias b2).
MAZUR = {"i1": 0.05, "i2": 0.10, "w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "b1": 0.35,
         "w5": 0.40, "w6": 0.45, "b2": 0.60, "target": 0.01}
_LEARNED = ("w1", "w2", "w3", "w4", "b1", "w5", "w6", "b2")
_ORDER = ("net_h1", "out_h1", "net_h2", "out_h2", "net_o", "out_o", "E")


def _forward(p: dict[str, Any], nudge: dict[str, float] | None = None) -> dict[str, Tensor]:
    """The network's forward pass on scalars; ``nudge`` adds a small number to an intermediate
    value (how finite differences reach dE/d(intermediate))."""
    nudge = nudge or {}
    v: dict[str, Tensor] = {}

    def put(name: str, t: Tensor) -> Tensor:
        v[name] = t + nudge[name] if name in nudge else t
        return v[name]

    put("net_h1", p["w1"] * p["i1"] + p["w2"] * p["i2"] + p["b1"])
    put("out_h1", sigmoid(v["net_h1"]))
    put("net_h2", p["w3"] * p["i1"] + p["w4"] * p["i2"] + p["b1"])
    put("out_h2", sigmoid(v["net_h2"]))
    put("net_o", p["w5"] * v["out_h1"] + p["w6"] * v["out_h2"] + p["b2"])
    put("out_o", sigmoid(v["net_o"]))
    put("E", 0.5 * (p["target"] - v["out_o"]) ** 2)
    return v


def _scalars(values: dict[str, float], grad_for: tuple[str, ...] = ()) -> dict[str, Tensor]:
    return {k: tensor(x, dtype=np.float64, requires_grad=k in grad_for) for k, x in values.items()}


@dataclass
class Derivative:
    """One partial derivative: ``symbol`` (``dE/dw5``), ``rule`` (how the chain rule gets it),
    and its value three ways: ``chain_rule``, ``autograd``, ``finite_difference``."""

    symbol: str
    rule: str
    chain_rule: float
    autograd: float
    finite_difference: float

    def agrees(self, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
        """True when the three values agree (finite differences to ``rtol``/``atol``)."""
        fd_ok = math.isclose(self.chain_rule, self.finite_difference, rel_tol=rtol, abs_tol=atol)
        return fd_ok and math.isclose(self.chain_rule, self.autograd, rel_tol=1e-12,
                                      abs_tol=1e-15)


@dataclass
class WorkedExample:
    """What :func:`worked_example` computed; ``str()`` is the printed walk-through."""

    values: dict[str, float]
    loss: float
    derivatives: list[Derivative]
    lr: float
    updated: dict[str, float]
    loss_after: float
    narration: Steps | None = None
    text: str = field(default="", repr=False)

    def __str__(self) -> str:
        return self.text

    def derivative(self, symbol: str) -> Derivative:
        for d in self.derivatives:
            if d.symbol == symbol:
                return d
        raise KeyError(f"worked_example: no derivative {symbol!r}; have "
                       f"{[d.symbol for d in self.derivatives]}")


def worked_example(print_fn: Callable[[str], Any] | None = print, *, lr: float = 0.5,
                   eps: float = 1e-6, narrate: bool = False,
                   values: dict[str, float] | None = None) -> WorkedExample:
    """Backpropagate through Mazur's 2-2-1 sigmoid network by hand, and check every step.

    Prints (through ``print_fn``; None prints nothing) the forward values, the loss, every partial
    derivative the chain rule produces - each with its value by the chain rule, by autograd and by
    finite differences - and one gradient-descent step with learning rate ``lr``. ``narrate``
    adds :func:`backprop`'s node-by-node walk of the same graph. ``values``: other numbers for
    any of the inputs, weights and target (names as in :data:`MAZUR`).
    """
    base = dict(MAZUR)
    if values:
        unknown = sorted(set(values) - set(MAZUR))
        if unknown:
            raise KeyError(f"worked_example: unknown names {unknown}; use {list(MAZUR)}")
        base.update({k: float(x) for k, x in values.items()})

    # forward and backward through autograd, keeping every intermediate value's gradient
    params = _scalars(base, _LEARNED)
    v = _forward(params)
    fv = {k: float(v[k].data) for k in _ORDER}
    for k in _ORDER[:-1]:
        v[k].retain_grad()

    def value_of(name: str) -> float:
        return fv[name] if name in fv else base[name]

    def numeric(of: str, wrt: str) -> float:
        """(of(wrt + eps) - of(wrt - eps)) / 2 eps, nudging a weight or an intermediate value."""
        out = []
        for sign in (1.0, -1.0):
            p = dict(base)
            nudge = {}
            if wrt in p:
                p[wrt] += sign * eps
            else:
                nudge[wrt] = sign * eps
            out.append(float(_forward(_scalars(p), nudge)[of].data))
        return (out[0] - out[1]) / (2 * eps)

    def auto(of: str, wrt: str) -> float:
        src = v[of] if of in v else params[of]
        dst = v[wrt] if wrt in v else params[wrt]
        (g,) = grad(src, dst, retain_graph=True)
        return float(g.data)

    # the chain rule written out, as in the textbook
    out_o, out_h1, out_h2 = fv["out_o"], fv["out_h1"], fv["out_h2"]
    derivs: list[Derivative] = []
    known: dict[str, float] = {}

    def add(of: str, wrt: str, rule: str, value: float) -> float:
        sym = f"d{of}/d{wrt}"
        derivs.append(Derivative(sym, rule, value, auto(of, wrt), numeric(of, wrt)))
        known[sym] = value
        return value

    d_out = add("E", "out_o", "out_o - target", out_o - base["target"])
    s_o = add("out_o", "net_o", "out_o (1 - out_o)", out_o * (1 - out_o))
    delta_o = add("E", "net_o", "dE/dout_o * dout_o/dnet_o", d_out * s_o)
    for w, h in (("w5", "out_h1"), ("w6", "out_h2")):
        add("net_o", w, h, value_of(h))
        add("E", w, f"dE/dnet_o * dnet_o/d{w}", delta_o * value_of(h))
    add("E", "b2", "dE/dnet_o * 1", delta_o)
    deltas = []
    for k, (w_out, ws) in enumerate((("w5", ("w1", "w2")), ("w6", ("w3", "w4"))), start=1):
        h, net = f"out_h{k}", f"net_h{k}"
        add("net_o", h, w_out, base[w_out])
        d_h = add("E", h, f"dE/dnet_o * dnet_o/d{h}", delta_o * base[w_out])
        out_h = out_h1 if k == 1 else out_h2
        s_h = add(h, net, f"{h} (1 - {h})", out_h * (1 - out_h))
        delta_h = add("E", net, f"dE/d{h} * d{h}/d{net}", d_h * s_h)
        deltas.append(delta_h)
        for w, i in zip(ws, ("i1", "i2")):
            add(net, w, i, base[i])
            add("E", w, f"dE/d{net} * d{net}/d{w}", delta_h * base[i])
    add("E", "b1", "dE/dnet_h1 * 1 + dE/dnet_h2 * 1",
        deltas[0] + deltas[1])

    # one step of gradient descent: w <- w - lr * dE/dw
    updated = {w: base[w] - lr * known[f"dE/d{w}"] for w in _LEARNED}
    loss_after = float(_forward(_scalars({**base, **updated}))["E"].data)

    narration = None
    if narrate:
        p2 = _scalars(base, _LEARNED)
        narration = backprop(_forward(p2)["E"], params={k: p2[k] for k in _LEARNED},
                             max_numbers=4)
    result = WorkedExample(fv, fv["E"], derivs, lr, updated, loss_after, narration)
    result.text = _describe(result, base)
    if print_fn is not None:
        print_fn(result.text)
    return result


def _describe(r: WorkedExample, base: dict[str, float]) -> str:
    lines = ["Backpropagation, step by step: a 2-2-1 sigmoid network on one sample "
             "(Mazur's numbers)", ""]
    lines.append("Inputs and weights: " + ", ".join(f"{k} = {fmt(x)}" for k, x in base.items()))
    lines += ["", "Forward pass:"]
    formulas = {"net_h1": "w1 i1 + w2 i2 + b1", "out_h1": "sigmoid(net_h1)",
                "net_h2": "w3 i1 + w4 i2 + b1", "out_h2": "sigmoid(net_h2)",
                "net_o": "w5 out_h1 + w6 out_h2 + b2", "out_o": "sigmoid(net_o)",
                "E": "1/2 (target - out_o)^2"}
    for k in _ORDER:
        lines.append(f"  {k:<7}= {formulas[k]:<28}= {r.values[k]:.9f}")
    lines += ["", f"Loss E = {r.loss:.9f}", "",
              "Backward pass: every partial derivative the chain rule produces",
              f"  {'derivative':<16}{'chain rule':<34}{'by hand':>14}{'autograd':>14}"
              f"{'finite diff.':>14}  ok"]
    for d in r.derivatives:
        ok = "yes" if d.agrees() else "NO"
        lines.append(f"  {d.symbol:<16}{d.rule[:33]:<34}{d.chain_rule:>14.9f}{d.autograd:>14.9f}"
                     f"{d.finite_difference:>14.9f}  {ok}")
    n_ok = sum(d.agrees() for d in r.derivatives)
    lines += [f"  {n_ok} of {len(r.derivatives)} derivatives agree with finite differences.",
              "  (sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)); b1 feeds both hidden units, so its "
              "gradient is the sum of both paths.)", "",
              f"One step of gradient descent, w <- w - lr * dE/dw (lr = {fmt(r.lr)}):"]
    lines += [f"  {w:<3} {base[w]:.8f} -> {x:.8f}" for w, x in r.updated.items()]
    lines.append(f"Loss before {r.loss:.9f}, after {r.loss_after:.9f}")
    if r.narration is not None:
        lines += ["", "The same backward pass as autograd runs it:", str(r.narration)]
    return "\n".join(lines)
