"""Pictures of what a network learned: conv filters, feature maps, RNN hidden states.

* :func:`show_filters`: a conv layer's kernels, weight (out, in, kh, kw), as a grid of small
  images (RGB when the layer reads 3 channels, one grey tile per input channel otherwise).
* :func:`feature_maps`: what each conv/pool/activation layer outputs for one image (forward
  hooks record the outputs; one row of channel tiles per layer).
* :func:`hidden_states`: an RNN's hidden state over time as a heatmap (hidden units x time).

Each returns the matplotlib Figure and saves a PNG when given a path (matplotlib is optional:
a clear ImportError says how to install it).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..backend import to_numpy
from ..nn.module import Module, register_module_forward_hook
from ..tensor import Tensor, as_tensor
from ._common import figure, module_names, mosaic, save_figure, to_array

__all__ = ["show_filters", "feature_maps", "hidden_states"]


def _show(ax: Any, img: np.ndarray, cmap: str = "gray", **kw: Any) -> Any:
    """imshow with the NaN gaps between tiles drawn in a colour no tile uses."""
    from matplotlib import colormaps
    cm = colormaps[cmap].with_extremes(bad="#e8b4b8" if cmap == "gray" else "white")
    im = ax.imshow(np.ma.masked_invalid(img), cmap=cm, interpolation="nearest", **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def show_filters(conv_layer: Any, path: str | os.PathLike | None = None, *,
                 max_filters: int = 64, max_channels: int = 8, title: str | None = None) -> Any:
    """Draw the kernels of a conv layer (or a weight tensor/array of shape (out, in, kh, kw)).

    With 3 input channels each filter is one RGB tile; otherwise each row is one filter and
    each column one input channel (up to ``max_channels``), and with 1 input channel the
    filters fill a square grid. Each tile is scaled to its own min..max (dark = most negative).
    """
    w = to_array(getattr(conv_layer, "weight", conv_layer)).astype(np.float64)
    if w.ndim == 3:  # a Conv1d weight (out, in, k): draw as (out, in, 1, k)
        w = w[:, :, None, :]
    if w.ndim != 4:
        raise ValueError(f"show_filters: expected a conv weight of shape (out, in, kh, kw), got "
                         f"{w.shape}")
    out_c, in_c = w.shape[:2]
    w = w[:max_filters]
    if in_c == 3:
        tiles = w.transpose(0, 2, 3, 1)  # (out, kh, kw, 3)
        img = mosaic(tiles)
        cols, rows = None, None
    else:
        c = min(in_c, max_channels)
        tiles = w[:, :c].reshape(-1, *w.shape[2:])
        cols = c if c > 1 else None
        img = mosaic(tiles, ncols=cols)
        rows = w.shape[0]
    h, wd = img.shape[:2]
    scale = 8.0 / max(h, wd)
    fig = figure(figsize=(max(3.0, wd * scale + 0.5), max(3.0, h * scale + 0.8)))
    ax = fig.subplots()
    if img.ndim == 3:
        ax.imshow(np.where(np.isnan(img), np.array([0.91, 0.71, 0.72]), img),
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        _show(ax, img)
    name = type(conv_layer).__name__ if isinstance(conv_layer, Module) else "weight"
    shown = f"{len(w)} of {out_c} filters" if out_c > len(w) else f"{out_c} filters"
    if rows is not None and cols is not None:
        shown += f" (rows) x {cols} of {in_c} input channels (columns)"
    ax.set_title(title or f"{name} kernels: {shown}, each {w.shape[2]}x{w.shape[3]}",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def feature_maps(model: Module, image: Any, path: str | os.PathLike | None = None, *,
                 layers: list[str] | None = None, max_channels: int = 16,
                 max_layers: int = 8) -> Any:
    """Run ``model`` on one image and draw what its layers output, one row per layer.

    ``image``: (C, H, W), (1, C, H, W) or (H, W). ``layers``: module paths to show (default:
    every module without children whose output is a (1, C, H, W) map, up to ``max_layers``).
    Each row shows the first ``max_channels`` channels, each scaled to its own range. Runs in
    eval mode under ``no_grad`` (the mode is restored). Returns the Figure; ``fig.maps`` holds
    ``{layer path: array (C, H, W)}``.
    """
    x = to_array(image)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"feature_maps: expected one image (C, H, W) or (1, C, H, W), got "
                         f"shape {to_array(image).shape}")
    names = module_names(model)
    wanted = set(layers) if layers is not None else None
    if wanted is not None:
        unknown = sorted(wanted - set(names.values()))
        if unknown:
            raise KeyError(f"feature_maps: no layers {unknown} in the model; it has "
                           f"{[n for n in names.values() if n]}")
    maps: dict[str, np.ndarray] = {}

    def hook(module: Module, args: tuple, out: Any) -> None:
        name = names.get(id(module))
        if name is None or not isinstance(out, Tensor) or out.data.ndim != 4:
            return
        if wanted is None and (module._modules or len(maps) >= max_layers):
            return
        if wanted is not None and name not in wanted:
            return
        maps.setdefault(name or "model", np.array(to_numpy(out.data[0]), dtype=np.float64))

    was_training = model.training
    model.eval()
    try:
        with no_grad(), register_module_forward_hook(hook):
            p = next(iter(model.parameters()), None)
            dt = p.data.dtype if p is not None else np.float32
            model(as_tensor(x.astype(dt, copy=False)))
    finally:
        model.train(was_training)
    if not maps:
        raise ValueError("feature_maps: no layer produced a (1, C, H, W) map (is this a CNN?)")
    rows = [("input", x[0])] + list(maps.items())
    ncols = min(max_channels, max(m.shape[0] for _, m in rows))
    fig = figure(figsize=(1.0 * ncols + 1.5, 1.25 * len(rows) + 0.6))
    axes = np.atleast_1d(fig.subplots(len(rows), 1))
    for ax, (name, m) in zip(axes, rows):
        c = min(m.shape[0], max_channels)
        _show(ax, mosaic(m[:c], ncols=ncols), cmap="viridis")
        ax.set_ylabel(f"{name}\n{tuple(m.shape)}", rotation=0, ha="right", va="center",
                      fontsize=8)
    fig.suptitle(f"Feature maps (first {max_channels} channels per layer)", fontsize=10)
    fig.tight_layout()
    fig.maps = maps
    if path is not None:
        save_figure(fig, path)
    return fig


def hidden_states(rnn_output: Any, path: str | os.PathLike | None = None, *, sample: int = 0,
                  batch_first: bool = True, title: str | None = None,
                  labels: list[str] | None = None) -> Any:
    """Heatmap of hidden states: hidden units (rows) x time steps (columns).

    ``rnn_output``: (T, H), or a batch (N, T, H) (``batch_first``; else (T, N, H)) from which
    ``sample`` is drawn - e.g. the first output of ``nn.LSTM``/``nn.GRU``/``nn.RNN``.
    ``labels``: one per time step (the input characters, say) for the x axis. Red is positive,
    blue negative (a symmetric colour scale).
    """
    a = to_array(rnn_output).astype(np.float64)
    if a.ndim == 3:
        a = a[sample] if batch_first else a[:, sample]
    if a.ndim != 2:
        raise ValueError(f"hidden_states: expected (T, H) or a batch (N, T, H), got shape "
                         f"{to_array(rnn_output).shape}")
    steps, units = a.shape
    fig = figure(figsize=(min(max(4.0, 0.25 * steps + 2), 16), min(max(2.5, 0.12 * units + 1.5),
                                                                 12)))
    ax = fig.subplots()
    m = float(np.nanmax(np.abs(a))) or 1.0
    im = ax.imshow(a.T, aspect="auto", cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
    ax.set_xlabel("time step")
    ax.set_ylabel("hidden unit")
    if labels is not None:
        if len(labels) != steps:
            raise ValueError(f"hidden_states: {len(labels)} labels for {steps} time steps")
        ax.set_xticks(range(steps))
        ax.set_xticklabels([str(s) for s in labels], fontsize=7)
    ax.set_title(title or f"Hidden states: {units} units over {steps} steps", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
