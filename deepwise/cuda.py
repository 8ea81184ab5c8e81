"""``deepwise.cuda``: PyTorch's ``torch.cuda`` questions, so
``device = "cuda" if deepwise.cuda.is_available() else "cpu"`` ports unchanged.

The GPU backend is CuPy (``pip install deepwise[gpu]``); the probe imports it inside ``try`` and
asks ``cupy.cuda.is_available()`` (see ``deepwise.backend``), so these calls never fail on a
machine without CuPy or without a GPU: they answer False / 0.
"""

from __future__ import annotations

from . import backend

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """True when a CUDA device can be used (CuPy installed and a GPU visible, or the test
    suite's fake device registered)."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA devices are visible (deepwise computes on ``cuda:0``)."""
    return backend.cuda_device_count()


def manual_seed(seed: int) -> None:
    """Seeds deepwise's one generator: random numbers are drawn on the host and copied to the
    device, so there is no GPU generator to seed."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed
