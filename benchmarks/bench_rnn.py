"""Character language model training step: Embedding(65, 64) -> LSTM or GRU(64, 256,
batch_first) -> Linear(256, 65) -> cross-entropy -> backward -> SGD by hand; batch 32 sequences
of 64 tokens. Same weights and data on both sides; throughput in tokens/s.

Run: ``python -m benchmarks.harness benchmarks.bench_rnn``
"""

from __future__ import annotations

from typing import Any

import numpy as np

VOCAB, EMB, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32
LR = 0.1
CASES = [{"name": f"{cell} char-LM (h{HIDDEN}, seq {SEQ}, batch {BATCH})", "cell": cell,
          "unit": "tokens/s"} for cell in ("lstm", "gru")]


def _data(cell: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Token ids, next-token targets, and a state dict (PyTorch's names) from one NumPy seed."""
    rng = np.random.default_rng(0)
    text = rng.integers(0, VOCAB, (BATCH, SEQ + 1))
    gates = 4 if cell == "lstm" else 3
    k = 1 / np.sqrt(HIDDEN)

    def u(bound: float, *shape: int) -> np.ndarray:
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    sd = {"emb.weight": rng.standard_normal((VOCAB, EMB)).astype(np.float32),
          "rnn.weight_ih_l0": u(k, gates * HIDDEN, EMB),
          "rnn.weight_hh_l0": u(k, gates * HIDDEN, HIDDEN),
          "rnn.bias_ih_l0": u(k, gates * HIDDEN), "rnn.bias_hh_l0": u(k, gates * HIDDEN),
          "out.weight": u(k, VOCAB, HIDDEN), "out.bias": u(k, VOCAB)}
    return text[:, :-1], text[:, 1:], sd


def deepwise_step(case: dict) -> tuple[Any, int]:
    import deepwise as dw
    from deepwise.nn.linear import Linear
    from deepwise.nn.module import Module
    from deepwise.nn.rnn import GRU, LSTM
    from deepwise.nn.sparse import Embedding
    from deepwise.ops.loss import cross_entropy

    class LM(Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = Embedding(VOCAB, EMB)
            self.rnn = (LSTM if case["cell"] == "lstm" else GRU)(EMB, HIDDEN, batch_first=True)
            self.out = Linear(HIDDEN, VOCAB)

        def forward(self, ids: Any) -> Any:
            y, _ = self.rnn(self.emb(ids))
            return self.out(y)

    ids, tgt, sd = _data(case["cell"])
    model = LM()
    model.load_state_dict(sd)
    ids, tgt = dw.tensor(ids), dw.tensor(tgt.reshape(-1))
    params = list(model.parameters())

    def step() -> None:
        loss = cross_entropy(model(ids).reshape(-1, VOCAB), tgt)
        for p in params:
            p.grad = None
        loss.backward()
        with dw.no_grad():
            for p in params:
                p -= LR * p.grad

    return step, BATCH * SEQ


def torch_step(case: dict) -> tuple[Any, int]:
    import torch
    import torch.nn.functional as F

    class LM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, EMB)
            cls = torch.nn.LSTM if case["cell"] == "lstm" else torch.nn.GRU
            self.rnn = cls(EMB, HIDDEN, batch_first=True)
            self.out = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, ids: Any) -> Any:
            y, _ = self.rnn(self.emb(ids))
            return self.out(y)

    ids, tgt, sd = _data(case["cell"])
    model = LM()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    ids, tgt = torch.from_numpy(ids), torch.from_numpy(tgt.reshape(-1))
    params = list(model.parameters())

    def step() -> None:
        loss = F.cross_entropy(model(ids).reshape(-1, VOCAB), tgt)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    return step, BATCH * SEQ


def profile(cell: str = "lstm", steps: int = 20) -> None:
    """cProfile of the deepwise step: ``python -m benchmarks.bench_rnn [lstm|gru]``."""
    import cProfile
    import pstats
    import time

    step, _ = deepwise_step({"cell": cell})
    for _ in range(3):
        step()
    pr = cProfile.Profile(time.process_time)  # CPU time: steadier on a shared machine
    pr.enable()
    for _ in range(steps):
        step()
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    import sys

    profile(sys.argv[1] if len(sys.argv) > 1 else "lstm")
