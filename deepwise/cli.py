"""The ``deepwise`` command: ``deepwise --version``, ``deepwise demo`` and (as they land) more."""

from __future__ import annotations

import argparse
import sys

import deepwise


def _worked_example(args: argparse.Namespace) -> int:
    """A tiny network's forward pass, loss and gradients, printed (until the real demo lands)."""
    import numpy as np

    import deepwise as dw

    dw.manual_seed(0)
    x = dw.tensor([[0.5, -1.0]])
    w1 = dw.tensor(np.array([[0.1, 0.4], [-0.3, 0.2]]), requires_grad=True)
    w2 = dw.tensor(np.array([[0.7, -0.5]]), requires_grad=True)
    h = (x @ w1.T).exp() / ((x @ w1.T).exp() + 1)  # a sigmoid, written out
    y = h @ w2.T
    loss = ((y - 1.0) ** 2).mean()
    loss.backward()
    print(f"hidden  h = {h.data.round(4).tolist()}")
    print(f"output  y = {y.data.round(4).tolist()}   loss = {loss.item():.4f}")
    print(f"dL/dW1 = {w1.grad.data.round(4).tolist()}")
    print(f"dL/dW2 = {w2.grad.data.round(4).tolist()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepwise", description=deepwise.__doc__)
    p.add_argument("--version", action="version", version=f"deepwise {deepwise.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train a small network on the embedded digits")
    demo.set_defaults(func=_worked_example)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
