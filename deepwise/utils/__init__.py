"""``deepwise.utils``: PyTorch's ``torch.utils`` face. ``deepwise.utils.data`` is
``torch.utils.data`` (datasets, DataLoader, samplers), built on :mod:`deepwise.data`."""

from . import data

__all__ = ["data"]
