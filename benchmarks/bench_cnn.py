"""CNN training step (forward, cross-entropy, backward, Adam) on Fashion-MNIST-shaped data:

* "cnn": conv(1->32, 3x3, pad 1)-ReLU-maxpool2, conv(32->64, 3x3, pad 1)-ReLU-maxpool2,
  linear(3136->128)-ReLU, linear(128->10) (the reference net of PERFORMANCE-NOTES.md);
* "smallcnn": models.SmallCNN (the same with BatchNorm after each conv, no conv bias, dropout
  0.25) - what ``deepwise train cnn`` trains.

Both libraries get the same weights and the same batch (NumPy seed 0).

Run: ``python -m benchmarks.harness benchmarks.bench_cnn [--rounds 5]``
Per-op profile of the deepwise step (forward and backward time per Function class):
``python -m benchmarks.bench_cnn --profile [--case "cnn batch 128"] [--steps 20]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
from typing import Any

import numpy as np

CASES = [{"name": f"{arch} batch {b}", "arch": arch, "batch": b, "unit": "samples/s"}
         for arch in ("cnn", "smallcnn") for b in (32, 128)]
LR = 1e-3


def _layers(nn: Any, arch: str) -> Any:
    """The architecture in either library (``nn`` is deepwise.nn or torch.nn)."""
    if arch == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    feats = []
    for cin, cout in ((1, 32), (32, 64)):
        feats += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                  nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*feats, nn.Flatten(), nn.Dropout(0.25), nn.Linear(3136, 128),
                         nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def _data(case: dict, shapes: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Random pixels, labels and PyTorch-style uniform weights for every parameter."""
    rng = np.random.default_rng(0)
    x = rng.random((case["batch"], 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, case["batch"])
    weights = {}
    for name, shape in shapes.items():
        if name.endswith("running_var"):
            weights[name] = np.ones(shape, np.float32)
        elif "running_mean" in name or "num_batches" in name:
            weights[name] = np.zeros(shape, np.float32 if shape else np.int64)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            bound = 1 / np.sqrt(fan_in)
            weights[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return x, y, weights


def deepwise_step(case: dict) -> tuple[Any, int]:
    import deepwise as dw
    import deepwise.nn.functional as F
    from deepwise import nn, optim

    model = _layers(nn, case["arch"])
    x, y, weights = _data(case, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(weights)
    opt = optim.Adam(model.parameters(), lr=LR)
    x, y = dw.tensor(x), dw.tensor(y)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, case["batch"]


def torch_step(case: dict) -> tuple[Any, int]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    model = _layers(nn, case["arch"])
    x, y, weights = _data(case, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, case["batch"]


def profile(case_name: str, steps: int = 20) -> list[tuple[str, float, float]]:
    """cProfile ``steps`` deepwise training steps; per Function class (op) the mean forward and
    backward milliseconds per step, slowest first; prints a markdown table."""
    case = next(c for c in CASES if c["name"] == case_name)
    step, _ = deepwise_step(case)
    for _ in range(3):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof).stats  # (file, line, function) -> (cc, nc, tottime, cumtime, ..)
    total = max(v[3] for (f, _, fn), v in stats.items() if fn == "step") / steps * 1e3
    per_op: dict[str, list[float]] = {}
    for (path, line, fn), (_, _, _, cum, _) in stats.items():
        if fn not in ("forward", "backward") or f"{os.sep}ops{os.sep}" not in path:
            continue
        op = _function_class(path, line)
        per_op.setdefault(op, [0.0, 0.0])[fn == "backward"] += cum / steps * 1e3
    rows = sorted(((op, f, b) for op, (f, b) in per_op.items()), key=lambda r: -(r[1] + r[2]))
    print(f"deepwise {case_name}: {total:.1f} ms per training step (cProfile, {steps} steps)")
    print("| op (Function) | forward ms | backward ms | share of step |")
    print("|---|---:|---:|---:|")
    for op, f, b in rows:
        print(f"| {op} | {f:.1f} | {b:.1f} | {100 * (f + b) / total:.0f}% |")
    rest = total - sum(f + b for _, f, b in rows)
    print(f"| (Adam, graph walk, module calls) | | | {100 * rest / total:.0f}% |")
    return rows


def _function_class(path: str, line: int) -> str:
    """The name of the class whose method starts at ``path:line`` (the Function subclass)."""
    with open(path) as f:
        lines = f.readlines()[:line]
    for text in reversed(lines):
        if text.startswith("class "):
            return os.path.basename(path)[:-3] + "." + text[6:].split("(")[0].split(":")[0]
    return os.path.basename(path)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="per-op profile of the deepwise CNN training step")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--case", default="cnn batch 128", choices=[c["name"] for c in CASES])
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    if not a.profile:
        p.error("run the timings with: python -m benchmarks.harness benchmarks.bench_cnn")
    profile(a.case, a.steps)
