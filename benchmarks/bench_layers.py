"""Single layers of the Fashion-MNIST CNN, forward + backward, batch 128: the two convolutions and
the BatchNorm of SmallCNN, so a per-layer figure quoted in BENCHMARKS.md or an op's docstring has
a command behind it. Both libraries get the same input; the timed unit is one forward, one
``sum().backward()``.

Run: ``python -m benchmarks.harness benchmarks.bench_layers [--rounds 5] [--threads 2]``

``python -m benchmarks.bench_layers --channel-sums [--batch 32]`` times the per-channel sum that
BatchNorm needs over channels-last memory (NumPy only): ``x.sum(axis=0)`` against the GEMV
``ones(M) @ x`` for ``x`` of shape ``(M, C)``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

CASES = [
    {"name": "conv 1->32 3x3 at 28x28", "layer": "conv", "cin": 1, "cout": 32, "hw": 28},
    {"name": "conv 32->64 3x3 at 14x14", "layer": "conv", "cin": 32, "cout": 64, "hw": 14},
    {"name": "batchnorm2d 32 at 28x28", "layer": "bn", "cin": 32, "cout": 32, "hw": 28},
]
BATCH = 128
for _c in CASES:
    _c["unit"] = "samples/s"


def _input(case: dict) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((BATCH, case["cin"], case["hw"], case["hw"]),
                                                    dtype=np.float32)


def _layer(nn: Any, case: dict) -> Any:
    if case["layer"] == "conv":
        return nn.Conv2d(case["cin"], case["cout"], 3, padding=1)
    return nn.BatchNorm2d(case["cin"])


def deepwise_step(case: dict) -> tuple[Any, int]:
    import deepwise as dw

    layer = _layer(dw.nn, case)
    x = dw.from_numpy(_input(case)).requires_grad_(True)

    def step() -> None:
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()

    return step, BATCH


def torch_step(case: dict) -> tuple[Any, int]:
    import torch

    layer = _layer(torch.nn, case)
    x = torch.from_numpy(_input(case)).requires_grad_(True)

    def step() -> None:
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()

    return step, BATCH


def channel_sums(m: int = BATCH * 28 * 28, c: int = 32, repeat: int = 50) -> None:
    """Print ms per call of the two ways to sum a channels-last ``(M, C)`` array over M."""
    x = np.random.default_rng(0).standard_normal((m, c), dtype=np.float32)
    ones = np.ones(m, np.float32)
    for name, fn in (("x.sum(axis=0)", lambda: x.sum(axis=0)), ("ones(M) @ x", lambda: ones @ x)):
        fn()
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        print(f"{name:14s} ({m}x{c}): {(time.perf_counter() - t0) / repeat * 1e3:.3f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channel-sums", action="store_true")
    p.add_argument("--batch", type=int, default=32, help="for --channel-sums: M = batch*28*28")
    a = p.parse_args()
    if a.channel_sums:
        channel_sums(m=a.batch * 28 * 28)
    else:
        p.print_help()
