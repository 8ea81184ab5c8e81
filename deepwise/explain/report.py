"""A training report: one self-contained HTML page (pictures embedded as base64 PNG).

``report(history_or_run_dir, path)`` draws the loss and metric curves (train and validation), the
learning rate, the gradient-flow picture of a :class:`GradientFlow` callback, the model summary,
and a table of final and best values, with short notes (overfitting, a rising loss) that fire
on a trend, not on noise: a sustained rise of at least 5% (``overfitting.MIN_RISE``). The page
needs no network and no other file: open it in any browser, attach it to a message, archive it.

Sources it reads: a ``train.History`` (what ``fit`` returns), a dict of lists, or a run directory
- ``metrics.json`` (``{"history": {...}, "test_accuracy": ...}``), a checkpoint written by
``io.save_checkpoint`` (``model.safetensors``: history, config, parameter shapes) or a
``CSVLogger`` file (``*.csv`` with an ``epoch`` column).
"""

from __future__ import annotations

import base64
import csv
import datetime
import glob
import html
import json
import math
import os
from typing import Any

import numpy as np

from ._common import atomic_write, figure, figure_bytes, fmt
from .overfitting import MIN_RISE, overfitting_onset

__all__ = ["report", "load_run"]

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em;
       border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th { background: #f3f5f8; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
.grid { display: flex; flex-wrap: wrap; gap: 0.6em; } .grid img { max-width: 49%; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em;
        margin: 0.5em 0; white-space: pre-wrap; }
"""


# --------------------------------------------------------------------------------------------
# reading a run


def _history_of(obj: Any) -> dict[str, list[float]]:
    hist = getattr(obj, "history", obj)
    if not isinstance(hist, dict):
        raise TypeError(f"report: expected a History, a dict of lists or a run directory, got "
                        f"{type(obj).__name__}")
    out = {}
    for k, v in hist.items():
        vals = np.asarray(v, dtype=np.float64).ravel() if np.ndim(v) else np.array([float(v)])
        out[str(k)] = [float(x) for x in vals]
    return out


def _read_csv(path: str) -> dict[str, list[float]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        return {}
    out: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            if k == "epoch" or k is None:
                continue
            try:
                out.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                pass
    return out


def load_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read a run directory: ``{"history", "results", "config", "params", "sources"}``.

    ``history``: dict of per-epoch lists; ``results``: scalar entries of metrics.json
    (test_accuracy ...); ``config``: the model config stored in the checkpoint; ``params``:
    (name, shape) of the checkpoint's model state.
    """
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"report: run directory {run_dir!r} does not exist")
    run: dict[str, Any] = {"history": {}, "results": {}, "config": {}, "params": [],
                           "sources": []}
    metrics = os.path.join(run_dir, "metrics.json")
    if os.path.isfile(metrics):
        try:
            with open(metrics, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"report: cannot read {metrics}: {e}") from e
        run["history"] = _history_of(data.get("history", {}))
        run["results"] = {k: v for k, v in data.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)}
        run["sources"].append(metrics)
    for name in ("model.safetensors", "best.safetensors", "checkpoint.safetensors"):
        ckpt_path = os.path.join(run_dir, name)
        if not os.path.isfile(ckpt_path):
            continue
        from .. import io as dwio
        ckpt = dwio.load(ckpt_path)
        if isinstance(ckpt, dict):
            state = ckpt.get("model", ckpt)
            if isinstance(state, dict):
                run["params"] = [(k, tuple(np.shape(getattr(v, "data", v))))
                                 for k, v in state.items()]
            if isinstance(ckpt.get("config"), dict):
                run["config"] = ckpt["config"]
            if not run["history"] and ckpt.get("history"):
                run["history"] = _history_of(ckpt["history"])
        run["sources"].append(ckpt_path)
        break
    if not run["history"]:
        for path in sorted(glob.glob(os.path.join(run_dir, "*.csv"))):
            hist = _read_csv(path)
            if hist:
                run["history"] = hist
                run["sources"].append(path)
                break
    if not run["history"]:
        raise FileNotFoundError(f"report: found no training history in {run_dir!r} (looked for "
                                "metrics.json, model.safetensors with a history, and CSVLogger "
                                "*.csv files)")
    return run


# --------------------------------------------------------------------------------------------
# pictures


def _png(fig: Any) -> str:
    return base64.b64encode(figure_bytes(fig, "png", dpi=90)).decode("ascii")


def _curves(hist: dict[str, list[float]]) -> list[tuple[str, str]]:
    """(title, base64 PNG) for the loss, each metric, and the learning rate."""
    out = []
    bases = [k for k in hist if not k.startswith("val_") and k not in ("lr", "time")]
    bases += [k[4:] for k in hist if k.startswith("val_") and k[4:] not in hist]
    for base in bases:
        fig = figure(figsize=(6.4, 3.6))
        ax = fig.subplots()
        for key, style, label in ((base, "o-", "train"), (f"val_{base}", "s--", "validation")):
            if key in hist:
                y = hist[key]
                ax.plot(range(1, len(y) + 1), y, style, ms=3, label=f"{label} {key}")
        if f"val_{base}" in hist and len(hist[f"val_{base}"]):
            v = np.asarray(hist[f"val_{base}"])
            best = int(np.nanargmax(v) if _higher_better(base) else np.nanargmin(v))
            ax.axvline(best + 1, color="gray", ls=":", lw=1, label=f"best epoch {best + 1}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(base)
        ax.set_title(base)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append((base, _png(fig)))
    if "lr" in hist:
        fig = figure(figsize=(6.4, 3.0))
        ax = fig.subplots()
        lr = np.asarray(hist["lr"])
        ax.plot(range(1, len(lr) + 1), lr, "o-", ms=3, color="#9467bd")
        if (lr > 0).all() and lr.max() / max(lr.min(), 1e-300) > 20:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title("learning rate")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out.append(("learning rate", _png(fig)))
    return out


def _higher_better(name: str) -> bool:
    return name in ("acc", "accuracy", "f1", "precision", "recall") or name.endswith("accuracy")


# --------------------------------------------------------------------------------------------
# tables and notes


def _summary_rows(hist: dict[str, list[float]]) -> list[tuple[str, str, str, str]]:
    rows = []
    for k, v in hist.items():
        if not v or k == "time":
            continue
        arr = np.asarray(v)
        best_i = int(np.nanargmax(arr) if _higher_better(k.removeprefix("val_"))
                     else np.nanargmin(arr))
        best = "-" if k == "lr" else f"{fmt(arr[best_i])} (epoch {best_i + 1})"
        rows.append((k, fmt(arr[0]), fmt(arr[-1]), best))
    if "time" in hist and hist["time"]:
        t = np.asarray(hist["time"])
        rows.append(("time per epoch (s)", fmt(t[0]), fmt(t[-1]), f"total {t.sum():.1f} s"))
    return rows


def _notes(hist: dict[str, list[float]]) -> list[str]:
    notes = []
    loss, val = hist.get("loss"), hist.get("val_loss")
    if loss and any(not math.isfinite(x) for x in loss):
        notes.append("The training loss became NaN/Inf. Find the op that made it with "
                     "`with explain.detect_anomaly():`, lower the learning rate, or clip "
                     "gradients (nn.utils.clip_grad_norm_).")
    over = overfitting_onset(loss, val) if loss and val else None
    if over:  # a sustained rise of >= 5% with a widening gap, not a wiggle (see overfitting.py)
        notes.append(
            f"Overfitting: the validation loss was best at epoch {over['best_epoch']} "
            f"({fmt(over['best'])}) and rose to {fmt(over['last'])} (+{100 * over['rise']:.0f}%)"
            f" while the training loss went {fmt(over['train_best'])} -> "
            f"{fmt(over['train_last'])}. Remedies: nn.Dropout(p), "
            "weight_decay= in the optimizer, train.EarlyStopping(patience, "
            "restore_best_weights=True), data augmentation (data.transforms).")
    finite = [x for x in loss or [] if math.isfinite(x)]
    if len(finite) >= 2 and finite[-1] > finite[0] + MIN_RISE * abs(finite[0]):
        notes.append(f"The training loss rose over the run ({fmt(finite[0])} -> "
                     f"{fmt(finite[-1])}): the learning rate may be too high (try "
                     "explain.lr_find).")
    return notes


def _table(head: tuple[str, ...], rows: list[tuple]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                  for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _model_section(model: Any, input_shape: Any, run: dict[str, Any] | None) -> str:
    parts = []
    if model is not None:
        text = None
        if input_shape is not None:
            from ..nn.summary import summary as nn_summary
            text = str(nn_summary(model, input_shape, print_fn=None))
        else:
            n = sum(int(np.prod(p.shape)) for p in model.parameters())
            text = f"{model!r}\n\nTotal params: {n:,}"
        parts.append(f"<pre>{html.escape(text)}</pre>")
    elif run is not None and (run.get("params") or run.get("config")):
        if run.get("config"):
            parts.append(f"<pre>config: {html.escape(json.dumps(run['config'], indent=2))}</pre>")
        if run.get("params"):
            rows = [(k, str(s), f"{int(np.prod(s)):,}") for k, s in run["params"]]
            total = sum(int(np.prod(s)) for _, s in run["params"])
            parts.append(_table(("parameter", "shape", "count"), rows)
                         + f"<p>Total: {total:,} values in the checkpoint's model state.</p>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# the page


def report(history_or_run_dir: Any, path: str | os.PathLike, model: Any = None,
           gradient_flow: Any = None, *, input_shape: Any = None,
           title: str = "Training report", extra_figures: dict[str, Any] | None = None) -> str:
    """Write a self-contained HTML training report to ``path``; return the path.

    Args:
        history_or_run_dir: a ``History``, a dict of per-epoch lists, or a run directory.
        model: adds the model summary (``nn.summary`` with ``input_shape``; else its repr and
            parameter count). For a run directory the checkpoint's parameter shapes are shown.
        gradient_flow: a :class:`GradientFlow` callback that watched the training.
        extra_figures: ``{title: matplotlib Figure}`` to embed as well (e.g. an lr_find plot).
    """
    run = None
    if isinstance(history_or_run_dir, (str, os.PathLike)):
        run = load_run(history_or_run_dir)
        hist, source = run["history"], os.fspath(history_or_run_dir)
    else:
        hist, source = _history_of(history_or_run_dir), type(history_or_run_dir).__name__
    if not hist:
        raise ValueError("report: the history is empty (nothing was trained?)")
    epochs = max(len(v) for v in hist.values())
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class='meta'>{epochs} epochs - from {esc(source)} - generated "
            f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by deepwise.explain</p>"]
    notes = _notes(hist)
    if notes:
        body.append("<h2>Notes</h2>" + "".join(f"<div class='note'>{esc(n)}</div>"
                                               for n in notes))
    body.append("<h2>Summary</h2>" + _table(("value", "first epoch", "last epoch", "best"),
                                            _summary_rows(hist)))
    if run is not None and run["results"]:
        body.append(_table(("result", "value"), [(k, fmt(v)) for k, v in
                                                 run["results"].items()]))
    body.append("<h2>Curves</h2><div class='grid'>" + "".join(
        f"<img alt='{esc(name)}' src='data:image/png;base64,{png}'>"
        for name, png in _curves(hist)) + "</div>")
    if gradient_flow is not None and getattr(gradient_flow, "steps", None):
        fig = gradient_flow.plot()
        body.append("<h2>Gradient flow</h2>"
                    f"<img alt='gradient flow' src='data:image/png;base64,{_png(fig)}'>"
                    f"<pre>{esc(str(gradient_flow))}</pre>")
    for name, fig in (extra_figures or {}).items():
        body.append(f"<h2>{esc(name)}</h2><img alt='{esc(name)}' "
                    f"src='data:image/png;base64,{_png(fig)}'>")
    model_html = _model_section(model, input_shape, run)
    if model_html:
        body.append("<h2>Model</h2>" + model_html)
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return atomic_write(path, page)
