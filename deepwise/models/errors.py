"""Errors that the reference models raise for inputs they cannot take."""

from __future__ import annotations

__all__ = ["SequenceTooLongError"]


class SequenceTooLongError(ValueError):
    """An input has more time steps than the model's ``max_len`` allows."""
