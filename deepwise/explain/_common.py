"""Helpers shared by the explain tools: describing arrays, walking the graph, naming parameters,
drawing with matplotlib (optional, imported only when a picture is asked for), atomic writes."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import to_numpy
from ..tensor import Tensor

# --------------------------------------------------------------------------------------------
# numbers


def fmt(v: float) -> str:
    """A number in at most 6 significant digits (``0.298371``, ``1.2e-05``)."""
    return f"{float(v):.6g}"


@dataclass
class ArraySummary:
    """An array described for a reader: its numbers when it is small (``values``), otherwise
    shape, mean, std, norm, min and max; ``nonfinite`` counts NaN/Inf entries."""

    shape: tuple[int, ...]
    values: list | float | None
    mean: float
    std: float
    norm: float
    min: float
    max: float
    nonfinite: int = 0

    @classmethod
    def of(cls, a: Any, max_numbers: int = 8) -> ArraySummary:
        arr = np.asarray(to_numpy(a.data if isinstance(a, Tensor) else a))
        if arr.dtype.kind not in "fiub":
            arr = arr.astype(np.float64)
        x = arr.astype(np.float64, copy=False)
        finite = np.isfinite(x)
        bad = int(x.size - np.count_nonzero(finite))
        v = x[finite] if bad else x
        stats = ((float(v.mean()), float(v.std()), float(np.sqrt(np.square(v).sum())),
                  float(v.min()), float(v.max())) if v.size else (np.nan,) * 5)
        values = x.tolist() if x.size <= max_numbers else None
        return cls(tuple(arr.shape), values, *stats, nonfinite=bad)

    def numbers(self) -> str:
        """The values on one line (``[0.5, -1.25]``), or the summary when there are too many."""
        if self.values is None:
            out = (f"mean {fmt(self.mean)}, std {fmt(self.std)}, norm {fmt(self.norm)}, "
                   f"min {fmt(self.min)}, max {fmt(self.max)}")
            return out + (f", {self.nonfinite} NaN/Inf" if self.nonfinite else "")
        text = np.array2string(np.asarray(self.values, dtype=np.float64), precision=6,
                               separator=", ", floatmode="maxprec", max_line_width=10_000)
        return " ".join(text.split())

    def __str__(self) -> str:
        return f"{self.shape} {self.numbers()}"


# --------------------------------------------------------------------------------------------
# the recorded graph


def walk(root: Tensor) -> tuple[list[Function], dict[Function, dict[int, Tensor]]]:
    """The nodes that produced ``root``, inputs before consumers (a forward topological order),
    and for each node the tensors it output (as seen by their consumers and as the root).

    An explicit stack, so deep graphs (an RNN over many steps) hit no recursion limit.
    """
    outputs: dict[Function, dict[int, Tensor]] = {}
    if root.grad_fn is None:
        return [], outputs
    outputs.setdefault(root.grad_fn, {})[root._output_nr] = root
    order: list[Function] = []
    seen: set[Function] = set()
    stack: list[tuple[Function, bool]] = [(root.grad_fn, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for t in reversed(node.inputs):
            if t is None or t.grad_fn is None:
                continue
            outputs.setdefault(t.grad_fn, {}).setdefault(t._output_nr, t)
            if t.grad_fn not in seen:
                stack.append((t.grad_fn, False))
    return order, outputs


def derivative_line(node: Function) -> str:
    """The first line of the op's docstring: by the house rule, its derivative."""
    doc = type(node).__doc__ or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return "(no docstring)"


def param_names(params: Any) -> dict[int, str]:
    """``id(tensor) -> name`` from a Module (its ``named_parameters``), a dict name -> tensor,
    or an iterable of (name, tensor) pairs; None gives {}."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs: Iterable = params.named_parameters()
    elif isinstance(params, dict):
        pairs = params.items()
    else:
        pairs = params
    out = {}
    for item in pairs:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError("params: expected a Module, a dict name -> tensor or (name, tensor) "
                            f"pairs (model.named_parameters()), got an item {type(item).__name__}")
        out.setdefault(id(item[1]), item[0])
    return out


def module_names(model: Any) -> dict[int, str]:
    """``id(module) -> path`` ("" for the model itself, ``fc1``, ``layers.0`` ...)."""
    return {id(m): name for name, m in model.named_modules()}


# --------------------------------------------------------------------------------------------
# files and pictures


def atomic_write(path: str | os.PathLike, data: bytes | str) -> str:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def figure(*args: Any, **kwargs: Any) -> Any:
    """A matplotlib ``Figure`` (object API: no pyplot, no global state, no display needed).

    Raises an ImportError saying how to install matplotlib when it is missing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("deepwise.explain: drawing this picture needs matplotlib, which is not "
                          "installed. Install it with `pip install matplotlib` (or "
                          "`pip install deepwise[full]`).") from None
    return Figure(*args, **kwargs)


def figure_bytes(fig: Any, fmt_: str = "png", dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt_, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> str:
    """Save ``fig`` atomically; the format comes from the file's extension (png, svg, pdf)."""
    ext = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    return atomic_write(path, figure_bytes(fig, ext, dpi))


def to_array(x: Any) -> np.ndarray:
    """A Tensor's array (on the host: a device tensor is copied), or ``np.asarray`` of anything
    else (a PyTorch tensor is accepted)."""
    if isinstance(x, Tensor):
        return to_numpy(x.data)
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def mosaic(tiles: np.ndarray, ncols: int | None = None, pad: int = 1,
           normalize: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Lay ``tiles`` (n, h, w) or (n, h, w, 3) out as one image, ``pad`` pixels of NaN between
    them (drawn as background), each tile scaled to [0, 1] on its own (flat tiles become 0.5)."""
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape[:3]
    if normalize is None:
        axes = tuple(range(1, tiles.ndim))
        lo = tiles.min(axis=axes, keepdims=True)
        span = tiles.max(axis=axes, keepdims=True) - lo
        tiles = np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1), 0.5)
    else:
        tiles = normalize(tiles)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    extra = tiles.shape[3:]
    canvas = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *extra), np.nan)
    for k in range(n):  # one slice copy per tile (a handful), not per pixel
        r, c = divmod(k, ncols)
        canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[k]
    return canvas
