"""``deepwise.cuda``: PyTorch's ``torch.cuda`` questions, so
``device = "cuda" if deepwise.cuda.is_available() else "cpu"`` ports unchanged.

The GPU backend is CuPy (``pip install deepwise[gpu]``); the probe imports it inside ``try`` and
asks ``cupy.cuda.is_available()`` (see ``deepwise.backend``), so these calls never fail on a
machine without CuPy or without a GPU: they answer False / 0.
"""

from __future__ import annotations

from typing import Any

from . import backend

__all__ = ["is_available", "device_count", "current_device", "get_device_name", "synchronize",
           "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """True when a CUDA device can be used (CuPy installed and a GPU visible, or the test
    suite's fake device registered)."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA devices are visible (deepwise computes on ``cuda:0``)."""
    return backend.cuda_device_count()


def current_device() -> int:
    """The index of the device deepwise computes on: 0 (``cuda:0``; pick the GPU with
    ``CUDA_VISIBLE_DEVICES``). ValueError when there is no GPU backend."""
    backend.as_device("cuda", "cuda.current_device")
    return 0


def get_device_name(device: Any = None) -> str:
    """The GPU's name (``"NVIDIA H100 ..."``), as CuPy reports it; ValueError without a GPU."""
    backend.as_device("cuda" if device is None else device, "cuda.get_device_name")
    xp = backend.device_module("cuda.get_device_name")
    props = getattr(getattr(getattr(xp, "cuda", None), "runtime", None), "getDeviceProperties",
                    None)
    if props is None:  # a registered module (the test suite's fake device)
        return getattr(xp, "__name__", "registered device module")
    name = props(0)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device: Any = None) -> None:
    """Wait until every kernel queued on the GPU has finished (time GPU work only after this:
    CuPy launches are asynchronous). A no-op for a registered module."""
    backend.as_device("cuda" if device is None else device, "cuda.synchronize")
    xp = backend.device_module("cuda.synchronize")
    sync = getattr(getattr(getattr(xp, "cuda", None), "Device", None), "synchronize", None)
    if sync is not None:
        xp.cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seeds deepwise's one generator: random numbers are drawn on the host and copied to the
    device, so there is no GPU generator to seed."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed
