"""``model.summary(input_shape)``: a Keras-style table of the layers a forward pass goes through.

It runs one forward pass on zeros (in eval mode, under no_grad; every module's training flag is
restored afterwards), records each module's output shape with a global forward hook, and prints::

    Model: "Sequential"    input: (1, 784)
    ---------------------------------------------------
    Layer    Type      Output shape    Param #
    ===================================================
    0        Linear    (1, 256)        200,960
    1        ReLU      (1, 256)        0
    2        Linear    (1, 10)         2,570
    ===================================================
    Total params: 203,530
    Trainable params: 203,530
    Non-trainable params: 0

Rows are the modules with no children (plus any module holding parameters of its own), in the
order they were first called; "Param #" counts the parameters a row's module holds itself (each
shared parameter once), so the column adds up to the total. Layers are named by their path from
the model (``encoder.layers.0.fc``). Totals count parameters (not buffers), from
``model.parameters()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor, as_tensor
from .module import (
    ROOT_NAME,
    Module,
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

__all__ = ["summary", "ModelSummary"]


@dataclass
class ModelSummary:
    """What ``summary`` returns: the rows and totals; ``str(s)`` is the table."""

    model_name: str
    input_shapes: list[tuple[int, ...]]
    rows: list[tuple[str, str, str, int]] = field(default_factory=list)  # path, type, shape, n
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    uncalled_params: int = 0
    text: str = ""

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return (f"<ModelSummary of {self.model_name}: {len(self.rows)} layers, "
                f"{self.total_params:,} parameters ({self.trainable_params:,} trainable)>")


def _shape_str(out: Any) -> str:
    if isinstance(out, Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)):
        inner = ", ".join(_shape_str(o) for o in out)
        return f"[{inner}]"
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {_shape_str(v)}" for k, v in out.items()) + "}"
    return type(out).__name__


def _make_inputs(input_shape: Any, dtype: Any, batch_size: int | None,
                 input: Any) -> list:  # noqa: A002
    if input is not None:
        items = list(input) if isinstance(input, (tuple, list)) else [input]
        return [x if isinstance(x, Tensor) else as_tensor(np.asarray(x)) for x in items]
    if input_shape is None:
        raise ValueError("summary: give input_shape (without the batch dim) or input=")
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    shapes = (list(input_shape) if input_shape and isinstance(input_shape[0], (tuple, list))
              else [input_shape])
    lead = () if batch_size is None else (int(batch_size),)
    return [Tensor._make(np.zeros(lead + tuple(int(s) for s in shape), np.dtype(dtype)))
            for shape in shapes]


def _table(s: ModelSummary) -> str:
    head = ("Layer", "Type", "Output shape", "Param #")
    body = [(p, t, o, f"{n:,}") for p, t, o, n in s.rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(4)]
    fmt = "   ".join(f"{{:<{w}}}" for w in widths[:3]) + f"   {{:>{widths[3]}}}"
    line_w = sum(widths) + 9
    ins = ", ".join(str(x) for x in s.input_shapes)
    lines = [f'Model: "{s.model_name}"    input: {ins}', "-" * line_w, fmt.format(*head),
             "=" * line_w]
    lines += [fmt.format(*r) for r in body]
    lines += ["=" * line_w, f"Total params: {s.total_params:,}",
              f"Trainable params: {s.trainable_params:,}",
              f"Non-trainable params: {s.non_trainable_params:,}"]
    if s.uncalled_params:
        lines.append(f"({s.uncalled_params:,} of them in modules the forward pass did not call)")
    return "\n".join(lines)


def summary(model: Module, input_shape: Any = None, dtype: Any = np.float32, *,
            batch_size: int | None = 1, input: Any = None,  # noqa: A002 - torchinfo's name
            print_fn: Callable[[str], Any] | None = print) -> ModelSummary:
    """Run ``model`` on zeros of shape ``(batch_size, *input_shape)`` and tabulate its layers.

    ``input_shape``: one shape without the batch dim, or a list of shapes for a model with
    several inputs; ``batch_size=None`` takes the shapes as complete. ``dtype``: of the zeros
    (``deepwise.int64`` for token ids). ``input=``: real tensor(s) to run instead. The table is
    passed to ``print_fn`` (None: not printed) and the :class:`ModelSummary` returned.

    >>> from deepwise import nn
    >>> s = nn.summary(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), (4,), print_fn=None)
    >>> s.total_params, [r[2] for r in s.rows]
    (40, ['(1, 8)', '(1, 8)'])
    """
    inputs = _make_inputs(input_shape, dtype, batch_size, input)
    names = {id(m): (name, m) for name, m in model.named_modules()}
    first_out: dict[int, str] = {}
    order: list[int] = []

    def enter(module: Module, args: tuple) -> None:  # rows in the order the calls begin
        key = id(module)
        if key in names and key not in first_out:
            first_out[key] = "?"
            order.append(key)

    def record(module: Module, args: tuple, out: Any) -> None:
        key = id(module)
        if first_out.get(key) == "?":
            first_out[key] = _shape_str(out)

    modes = [(m, m.training) for m in model.modules()]
    handles = [register_module_forward_pre_hook(enter), register_module_forward_hook(record)]
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.__dict__["training"] = mode

    s = ModelSummary(type(model).__name__, [tuple(x.shape) for x in inputs])
    counted: set[int] = set()
    for key in order:
        name, m = names[key]
        own = [p for p in m.parameters(recurse=False) if id(p) not in counted]
        has_kids = any(True for _ in m.children())
        if has_kids and not own:
            continue
        counted.update(id(p) for p in own)
        s.rows.append((name or ROOT_NAME, type(m).__name__, first_out[key],
                       sum(p.numel() for p in own)))
    for p in model.parameters():
        n = p.numel()
        s.total_params += n
        if p.requires_grad:
            s.trainable_params += n
        if id(p) not in counted:
            s.uncalled_params += n
    s.non_trainable_params = s.total_params - s.trainable_params
    s.text = _table(s)
    if print_fn is not None:
        print_fn(s.text)
    return s
