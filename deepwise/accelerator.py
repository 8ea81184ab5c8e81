"""``deepwise.accelerator``: PyTorch's ``torch.accelerator`` questions for a CPU-only framework
(``torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"``
ports unchanged and picks "cpu")."""

from __future__ import annotations

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    """False: deepwise computes on the CPU only (no GPU backend yet)."""
    return False


def current_accelerator(check_available: bool = False) -> None:
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    return 0
