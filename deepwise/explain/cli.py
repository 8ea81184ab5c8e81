"""``deepwise explain ...`` commands; ``deepwise/cli.py`` calls :func:`add_commands`.

    deepwise explain backprop [--narrate]          Mazur's network, every derivative checked
    deepwise explain descent [--out FILE.png]      SGD / momentum / Adam on 2-D surfaces
    deepwise explain graph [--out FILE.svg]        the graph of a small MLP's loss
    deepwise report RUN_DIR [--out FILE.html]      an HTML training report for a run directory
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["add_commands"]


def _backprop(args: argparse.Namespace) -> int:
    from .worked import worked_example
    r = worked_example(narrate=args.narrate, lr=args.lr)
    return 0 if all(d.agrees() for d in r.derivatives) else 1


def _descent(args: argparse.Namespace) -> int:
    from .descent import descent
    out = args.out
    if out is not None and not out.lower().endswith((".png", ".svg", ".pdf")):
        raise ValueError(f"--out {out!r} should end in .png, .svg or .pdf")
    descent(out, steps=args.steps)
    return 0


def _graph(args: argparse.Namespace) -> int:
    import deepwise as dw
    from deepwise import nn

    from .graph import graph
    dw.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x, y = dw.randn(5, 4), dw.tensor([0, 1, 1, 0, 1])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    dot = graph(loss, args.out, params=model, show_values=True, png=args.png)
    if args.out is None:
        print(dot)
    else:
        base = os.path.splitext(args.out)[0]
        made = [p for p in (base + ".dot", base + ".svg", base + ".png") if os.path.exists(p)]
        print("wrote " + ", ".join(made))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import report
    out = args.out or os.path.join(args.run_dir, "report.html")
    path = report(args.run_dir, out, title=args.title or f"Training report: {args.run_dir}")
    print(f"wrote {path}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``explain {backprop,descent,graph}`` and ``report`` on an argparse
    ``add_subparsers()`` object; each sets ``func`` (``args.func(args)`` returns an exit code)."""
    ex = subparsers.add_parser("explain", help="watch every step: backprop, descent, graph",
                               description="Watch every step of how a network learns.")
    sub = ex.add_subparsers(dest="explain_command", metavar="WHAT")
    sub.required = True

    bp = sub.add_parser("backprop", help="backpropagation by hand on Mazur's 2-2-1 network, "
                        "every derivative checked against finite differences")
    bp.add_argument("--narrate", action="store_true",
                    help="also print autograd's node-by-node backward walk")
    bp.add_argument("--lr", type=float, default=0.5, help="learning rate of the shown step")
    bp.set_defaults(func=_backprop)

    de = sub.add_parser("descent", help="SGD, momentum and Adam on 2-D loss surfaces")
    de.add_argument("--out", metavar="FILE.png", help="save the trajectories picture here")
    de.add_argument("--steps", type=int, default=None,
                    help="steps per optimizer (default: 60 on the bowl, 1000 on Rosenbrock)")
    de.set_defaults(func=_descent)

    gr = sub.add_parser("graph", help="draw the computation graph of a small MLP's loss")
    gr.add_argument("--out", metavar="FILE.svg", help="write FILE.dot and render it (Graphviz)")
    gr.add_argument("--png", action="store_true", help="also render a PNG")
    gr.set_defaults(func=_graph)

    rp = subparsers.add_parser("report", help="write an HTML training report for a run "
                               "directory (metrics.json / checkpoint / CSV log)")
    rp.add_argument("run_dir", metavar="RUN_DIR")
    rp.add_argument("--out", metavar="FILE.html", help="default: RUN_DIR/report.html")
    rp.add_argument("--title", default=None)
    rp.set_defaults(func=_report)
