"""``deepwise.cuda``: PyTorch's ``torch.cuda`` questions, answered for a CPU-only framework, so
``device = "cuda" if torch.cuda.is_available() else "cpu"`` ports unchanged (it picks "cpu")."""

from __future__ import annotations

from . import backend

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """False: deepwise has no GPU backend yet."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Seeds deepwise's one generator (there is no GPU generator to seed)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed
