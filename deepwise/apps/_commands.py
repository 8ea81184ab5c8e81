"""What every application's commands share: the ``deepwise train`` group, the one user-error type,
and how a command is registered.

An application module defines ``add_commands(subparsers)``; ``deepwise/cli.py`` calls it with the
top-level sub-parsers of ``deepwise``. Inside, the application adds its own commands
(``register(subparsers.add_parser("generate", ...), cmd_generate)``) and its models under
``deepwise train`` (``register(train_parsers(subparsers).add_parser("char-rnn", ...), cmd)``).

A command reports a user's mistake (a missing file, a bad option value, a checkpoint of another
kind) by raising :class:`CommandError` (or letting a ``FileNotFoundError``, ``ValueError``,
``CheckpointError``, ``SerializationError`` or an optional package's ``ImportError`` through):
``deepwise/cli.py`` prints ``deepwise <command>: <what was wrong>`` and exits with status 1,
without a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..io import CheckpointError, SerializationError

__all__ = ["CommandError", "USER_ERRORS", "register", "train_parsers"]


class CommandError(Exception):
    """A user's mistake on the command line; the message says what was wrong and how to fix it."""


# the exceptions that mean "the user gave something wrong" (or lacks an optional package, whose
# ImportError says what to pip install), reported in one line, never a traceback
USER_ERRORS: tuple[type[BaseException], ...] = (
    CommandError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
    ValueError, CheckpointError, SerializationError, ImportError)


def register(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int | None]
             ) -> argparse.ArgumentParser:
    """Make ``func(args)`` the action of ``parser`` (``deepwise/cli.py`` names the command for
    its messages from the parser's ``prog``: ``train char-rnn``)."""
    parser.set_defaults(func=func)
    return parser


def train_parsers(subparsers: Any) -> Any:
    """The sub-parsers of ``deepwise train`` (one per trainable model), made on the first call."""
    group = getattr(subparsers, "_deepwise_train", None)
    if group is None:
        train = subparsers.add_parser(
            "train", help="train a model (deepwise train MODEL --help)",
            description="Train a model; see 'deepwise train MODEL --help'.")
        group = train.add_subparsers(dest="model_kind", metavar="MODEL", required=True)
        subparsers._deepwise_train = group
    return group
