"""Anomaly mode: stop at the first op that produces NaN or Inf, and say where it came from.

A NaN loss is found late: it appears at the end of the forward pass (or in the gradients, after
backward), far from the ``log(0)`` or ``0/0`` that made it. Inside ``with detect_anomaly():``

* every recorded op's creation site is kept (the user's ``file:line`` that called it, found by
  skipping deepwise's own frames) together with the path of the Module it ran in (``model.fc2``,
  from the stack of modules being called);
* the first op whose forward output holds NaN/Inf raises :class:`AnomalyError` at once;
* in backward, the first node whose outgoing gradient holds NaN/Inf (while its incoming gradient
  was finite) raises, naming the op, the module and the line where that op was created.

It watches through ``deepwise.autograd.observe_forward``/``observe_backward`` - the core does not
know this module exists - and costs a stack walk and a finiteness check per op, so use it to find
a bug, not to train. Only recorded ops are seen (grad mode on, some input requiring grad).

>>> import deepwise as dw
>>> from deepwise.explain import detect_anomaly
>>> x = dw.tensor([1.0, 0.0], requires_grad=True)
>>> with detect_anomaly():
...     y = x.log()                                             # doctest: +SKIP
AnomalyError: Log produced -inf in its forward output ... created at <stdin>:2: y = x.log()
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import Function, observe_backward, observe_forward
from ..backend import to_numpy
from ..nn.module import ROOT_NAME, Module, module_call_stack

__all__ = ["detect_anomaly", "AnomalyError", "Origin"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class AnomalyError(RuntimeError):
    """An op produced NaN/Inf. Attributes: ``op`` (its name), ``phase`` ('forward' or
    'backward'), ``module_path`` (``model.fc2`` or None), ``filename``, ``lineno``, ``code``."""

    def __init__(self, message: str, op: str, phase: str, origin: Origin | None) -> None:
        super().__init__(message)
        self.op, self.phase = op, phase
        self.module_path = origin.module_path if origin else None
        self.filename = origin.filename if origin else None
        self.lineno = origin.lineno if origin else None
        self.code = origin.code if origin else None


@dataclass
class Origin:
    """Where a node was created: the user's frame and the Module path (None outside modules)."""

    filename: str
    lineno: int
    function: str
    module_path: str | None
    module_label: str | None

    @property
    def code(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        where = f"{self.filename}:{self.lineno} in {self.function}"
        code = self.code
        return f"{where}: {code}" if code else where


def _user_frame() -> tuple[str, int, str]:
    """The innermost frame outside the deepwise package (the user's code that called the op)."""
    f = sys._getframe(2)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
        f = f.f_back
    if f is None:
        return "<unknown>", 0, "?"
    return f.f_code.co_filename, f.f_lineno, f.f_code.co_name


def _module_path(stack: tuple[Module, ...]) -> tuple[str | None, str | None]:
    """``model.encoder.fc2`` for the stack of modules being called (outermost first)."""
    if not stack:
        return None, None
    parts = [ROOT_NAME]
    for parent, child in zip(stack, stack[1:]):
        name = next((k for k, m in parent._modules.items() if m is child), None)
        if name is None:  # called without being registered: look deeper, or name the type
            name = next((k for k, m in parent.named_modules() if m is child and k), None)
        parts.append(name or f"<{type(child).__name__}>")
    inner = stack[-1]
    return ".".join(parts), inner.short_repr()


def _nonfinite(arr: Any) -> str | None:
    """'NaN', '+inf', '-inf' (first kind found, with a count) or None when all finite."""
    a = np.asarray(to_numpy(arr))  # a device array: read from a host copy
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return None
    nan, pos, neg = int(np.isnan(a).sum()), int(np.isposinf(a).sum()), int(np.isneginf(a).sum())
    kinds = [f"{k}" for k, n in (("NaN", nan), ("+inf", pos), ("-inf", neg)) if n]
    total = nan + pos + neg
    return f"{' and '.join(kinds)} ({total} of {a.size} values, shape {tuple(a.shape)})"


class _Anomaly:
    def __init__(self, check_nan: bool) -> None:
        self.check_nan = check_nan
        self.origins: weakref.WeakKeyDictionary[Function, Origin] = weakref.WeakKeyDictionary()

    def forward(self, node: Function, outputs: tuple) -> None:
        filename, lineno, func = _user_frame()
        path, label = _module_path(module_call_stack())
        origin = Origin(filename, lineno, func, path, label)
        self.origins[node] = origin
        if not self.check_nan:
            return
        for i, out in enumerate(outputs):
            bad = _nonfinite(out.data)
            if bad is None:
                continue
            note = ""
            for k, t in enumerate(node.inputs):
                if t is not None and _nonfinite(t.data):
                    note = (f" (input #{k} already held NaN/Inf: it came from outside the "
                            "recorded graph, e.g. the data or an op run under no_grad)")
                    break
            raise AnomalyError(
                f"detect_anomaly: {node.name} produced {bad} in its forward output #{i}{note}"
                + self._where(node, origin), node.name, "forward", origin)

    def backward(self, node: Function, grad_outputs: tuple, grad_inputs: tuple) -> None:
        if not self.check_nan:
            return
        if any(g is not None and _nonfinite(g) for g in grad_outputs):
            return  # the NaN came in from a later node, which has already been reported
        for i, g in enumerate(grad_inputs):
            if g is None:
                continue
            bad = _nonfinite(g)
            if bad is None:
                continue
            origin = self.origins.get(node)
            raise AnomalyError(
                f"detect_anomaly: the backward of {node.name} produced {bad} in the gradient "
                f"for its input #{i}, from a finite incoming gradient"
                + self._where(node, origin), node.name, "backward", origin)

    @staticmethod
    def _where(node: Function, origin: Origin | None) -> str:
        lines = [f"  op:       {node.name}   ({_doc(node)})"]
        if origin is None:
            lines.append("  created:  before detect_anomaly() began (origin unknown)")
            return "\n" + "\n".join(lines)
        if origin.module_path:
            lines.append(f"  module:   {origin.module_path} ({origin.module_label})")
        lines.append(f"  created:  {origin.filename}:{origin.lineno} in {origin.function}")
        if origin.code:
            lines.append(f"            {origin.code}")
        return "\n" + "\n".join(lines)


def _doc(node: Function) -> str:
    doc = (type(node).__doc__ or "").strip().splitlines()
    return doc[0].strip() if doc else "(no docstring)"


@contextlib.contextmanager
def detect_anomaly(check_nan: bool = True) -> Iterator[None]:
    """``with detect_anomaly():`` - raise :class:`AnomalyError` at the first op whose forward or
    backward produces NaN/Inf, naming the op, the Module path and the ``file:line`` that created
    it. ``check_nan=False`` only records where ops were created (PyTorch's argument)."""
    state = _Anomaly(check_nan)
    with observe_forward(state.forward), observe_backward(state.backward):
        yield
