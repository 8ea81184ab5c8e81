"""The ``deepwise`` command: a thin dispatcher over the applications' commands.

Each application (``deepwise/apps/``), the explain tools and the playground add their own commands
(``add_commands(subparsers)``); this module builds the top-level parser from them, runs the chosen
command, and reports a user's mistake the same way for every command: ``deepwise <command>: <what
was wrong>`` on standard error, exit status 1, no traceback. ``deepwise --help`` lists everything.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

import deepwise

from . import apps

DESCRIPTION = ("deepwise: a deep-learning framework written from scratch on NumPy - train, "
               "evaluate, generate, explain.")


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Give every (sub-)command a ``command`` default, its ``prog`` without ``deepwise``
    (``train char-rnn``), for the error messages."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(command=sub.prog.split(" ", 1)[-1])
                _name_commands(sub)


def build_parser() -> argparse.ArgumentParser:
    """The ``deepwise`` parser: the commands of every application, of ``explain`` and of the
    playground (when it is installed)."""
    p = argparse.ArgumentParser(prog="deepwise", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"deepwise {deepwise.__version__}")
    sub = p.add_subparsers(dest="command_group", metavar="COMMAND")
    for app in apps.modules():
        app.add_commands(sub)
    from .explain.cli import add_commands as add_explain_commands

    add_explain_commands(sub)
    try:
        playground: Any = importlib.import_module("deepwise.playground")
    except ModuleNotFoundError as e:
        if e.name != "deepwise.playground":
            raise
    else:
        if hasattr(playground, "add_commands"):
            playground.add_commands(sub)
    _name_commands(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``deepwise ARGS``; returns the exit status (1 for a user's mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except apps.USER_ERRORS as e:
        print(f"deepwise {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
