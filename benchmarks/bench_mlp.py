"""MLP 784-256-256-10 training step (forward, cross-entropy, backward, SGD by hand), and the
per-op overhead of a tiny op with and without grad.

Run: ``python -m benchmarks.harness benchmarks.bench_mlp``
"""

from __future__ import annotations

from typing import Any

import numpy as np

CASES = [{"name": f"mlp batch {b}", "batch": b, "unit": "samples/s"} for b in (32, 128, 512)] + [
    {"name": "tiny op, no grad", "op": "nograd", "unit": "ops/s"},
    {"name": "tiny op, with grad", "op": "grad", "unit": "ops/s"},
]
SIZES = (784, 256, 256, 10)
LR = 0.01


def _data(batch: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)  # Fashion-MNIST-shaped random pixels
    y = rng.integers(0, 10, batch)
    ws = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        ws += [rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
               rng.uniform(-bound, bound, fan_out).astype(np.float32)]
    return x, y, ws


def deepwise_step(case: dict) -> tuple[Any, int]:
    import deepwise as dw
    import deepwise.nn.functional as F

    if "op" in case:
        a = dw.tensor(np.ones(4, np.float32), requires_grad=case["op"] == "grad")
        b = dw.tensor(np.ones(4, np.float32))
        return (lambda: a * b), 1
    x, y, ws = _data(case["batch"])
    x, y = dw.tensor(x), dw.tensor(y)
    params = [dw.tensor(w, requires_grad=True) for w in ws]

    def step() -> None:
        h = x
        for i in range(0, len(params), 2):
            h = F.linear(h, params[i], params[i + 1])
            if i < len(params) - 2:
                h = F.relu(h)
        loss = F.cross_entropy(h, y)
        for p in params:
            p.grad = None
        loss.backward()
        with dw.no_grad():
            for p in params:
                p -= LR * p.grad

    return step, case["batch"]


def torch_step(case: dict) -> tuple[Any, int]:
    import torch
    import torch.nn.functional as F

    if "op" in case:
        a = torch.ones(4, requires_grad=case["op"] == "grad")
        b = torch.ones(4)
        return (lambda: a * b), 1
    x, y, ws = _data(case["batch"])
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.tensor(w, requires_grad=True) for w in ws]

    def step() -> None:
        h = x
        for i in range(0, len(params), 2):
            h = F.linear(h, params[i], params[i + 1])
            if i < len(params) - 2:
                h = F.relu(h)
        loss = F.cross_entropy(h, y)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    return step, case["batch"]
