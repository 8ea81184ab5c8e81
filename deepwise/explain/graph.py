"""Draw the computation graph that autograd recorded, as Graphviz DOT (and SVG/PNG via ``dot``).

Each op that ran is a node (its name and output shape); each leaf tensor is a box (a parameter by
its name, ``fc1.weight``); edges run forward, from inputs to the op that used them. The graph is
found by walking ``tensor.grad_fn`` and each node's ``inputs`` - the same structure
``loss.backward()`` walks in reverse.

>>> import deepwise as dw
>>> from deepwise import explain, nn
>>> model = nn.Linear(3, 1)
>>> loss = model(dw.ones(2, 3)).sum()
>>> "Linear" in explain.graph(loss, params=model)
True
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..tensor import Tensor
from ._common import ArraySummary, atomic_write, fmt, param_names, walk

__all__ = ["graph", "render_dot", "GRAPHVIZ_HINT"]

GRAPHVIZ_HINT = ("install Graphviz, which provides the `dot` program: `apt-get install graphviz` "
                 "(Debian/Ubuntu), `brew install graphviz` (macOS), `conda install graphviz`, or "
                 "https://graphviz.org/download/ - or paste the .dot file into an online viewer "
                 "such as https://dreampuf.github.io/GraphvizOnline")


def _q(text: str) -> str:
    """A DOT string literal (double quotes; backslash, quote escaped; newlines as \\n)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _value_text(t: Tensor, max_numbers: int) -> str:
    s = ArraySummary.of(t, max_numbers)
    if s.values is not None:
        return s.numbers()
    return f"mean {fmt(s.mean)} std {fmt(s.std)}"


def graph(tensor: Tensor, path: str | os.PathLike | None = None, params: Any = None,
          show_values: bool = False, *, png: bool = False, max_numbers: int = 4,
          title: str | None = None) -> str:
    """The computation graph that produced ``tensor``, as a Graphviz DOT string.

    ``params``: a Module or ``named_parameters()`` (or dict) to label the leaves by name.
    ``show_values``: add each tensor's values (small ones) or mean/std, and the gradient norm of
    leaves that have a ``.grad``. ``path``: also write the files - ``graph.dot`` writes the DOT
    and renders ``graph.svg`` next to it (``graph.png`` too with ``png=True``); a path ending in
    ``.svg`` or ``.png`` renders that format (and writes the .dot beside it). Rendering needs the
    ``dot`` program of Graphviz; without it only the .dot is written and a warning says how to
    install Graphviz.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    names = param_names(params)
    order, outputs = walk(tensor)
    index = {node: k + 1 for k, node in enumerate(order)}
    lines = ["digraph deepwise {", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [color="#555555"];']
    if title:
        lines.append(f"  labelloc=t; label={_q(title)};")
    leaf_ids: dict[int, str] = {}

    def leaf(t: Tensor) -> str:
        key = id(t)
        if key in leaf_ids:
            return leaf_ids[key]
        nid = f"t{len(leaf_ids)}"
        leaf_ids[key] = nid
        shape = tuple(t.shape)
        if key in names:
            label, color = f"{names[key]}\n{shape}", "#cfe2ff"
        elif t.requires_grad:
            label, color = f"leaf\n{shape}", "#fff3cd"
        else:
            label, color = f"input\n{shape}", "#eeeeee"
        if show_values:
            label += "\n" + _value_text(t, max_numbers)
            if t.grad is not None:
                label += f"\n|grad| = {fmt(float(np.linalg.norm(to_numpy(t.grad.data))))}"
        lines.append(f"  {nid} [shape=box, style=\"filled\", fillcolor=\"{color}\", "
                     f"label={_q(label)}];")
        return nid

    if tensor.grad_fn is None:  # a leaf on its own
        leaf(tensor)
    for node in order:
        nid = f"op{index[node]}"
        outs = outputs.get(node, {})
        if node.n_outputs > 1:
            shapes = ", ".join(str(tuple(m[0])) for m in node.out_meta)
        else:
            shapes = str(tuple(outs[0].shape)) if 0 in outs else "?"
        label = f"[{index[node]}] {node.name}\n{shapes}"
        if show_values and node.n_outputs == 1 and 0 in outs:
            label += "\n" + _value_text(outs[0], max_numbers)
        root = node is tensor.grad_fn
        style = 'style="rounded,filled,bold", fillcolor="#ffd8b1"' if root else \
            'style="rounded,filled", fillcolor="#d1f2d9"'
        lines.append(f"  {nid} [shape=box, {style}, label={_q(label)}];")
        n_in = sum(t is not None for t in node.inputs)
        for i, t in enumerate(node.inputs):
            if t is None:
                continue
            src = f"op{index[t.grad_fn]}" if t.grad_fn is not None else leaf(t)
            attrs = f' [label="{i}"]' if n_in > 1 else ""
            lines.append(f"  {src} -> {nid}{attrs};")
    lines.append("}")
    dot = "\n".join(lines) + "\n"
    if path is not None:
        _write(dot, os.fspath(path), png)
    return dot


def render_dot(dot_path: str, out_path: str, fmt_: str | None = None) -> bool:
    """Run Graphviz's ``dot`` on a .dot file; False (and a warning) if it is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        warnings.warn(f"explain.graph: the Graphviz `dot` program was not found, so only "
                      f"{dot_path} was written (no {os.path.basename(out_path)}). To render it, "
                      f"{GRAPHVIZ_HINT}.", RuntimeWarning, stacklevel=3)
        return False
    fmt_ = fmt_ or os.path.splitext(out_path)[1].lstrip(".")
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="." + fmt_)
    os.close(fd)
    os.chmod(tmp, 0o644)
    try:
        res = subprocess.run([exe, f"-T{fmt_}", dot_path, "-o", tmp], capture_output=True,
                             text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"explain.graph: `dot -T{fmt_} {dot_path}` failed "
                               f"(exit {res.returncode}): {res.stderr.strip()}")
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def _write(dot: str, path: str, png: bool) -> None:
    base, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext not in (".dot", ".gv", ".svg", ".png"):
        raise ValueError(f"graph: path {path!r} should end in .dot, .svg or .png")
    dot_path = path if ext in (".dot", ".gv") else base + ".dot"
    atomic_write(dot_path, dot)
    formats = ["svg"] if ext in (".dot", ".gv", ".svg") else []
    if png or ext == ".png":
        formats.append("png")
    for f in formats:
        if not render_dot(dot_path, f"{base}.{f}", f):
            break
