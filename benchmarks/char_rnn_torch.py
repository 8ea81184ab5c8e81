"""The char-LSTM recipe of ``deepwise train char-rnn``, written in PyTorch: the peer for issue 10's
"chars/s and validation loss after the same minutes" comparison.

Same recipe as ``deepwise/apps/text_generation.py::train_char_rnn``: the sorted characters of the
text as the vocabulary, the last 10% as validation; ``batch_size`` contiguous streams cut into
``bptt``-step time-major chunks with the hidden state carried from chunk to chunk (detached);
Embedding(V, 64) -> LSTM(64, 256, 2 layers, dropout 0.2) -> Dropout(0.2) -> Linear(256, V);
Adam, the learning rate on a cosine from 2e-3 to 1e-4 over the time budget; gradient-norm clip 5;
validation as 16 streams of 256 steps (no dropout), the state carried across chunks.

Run, back to back with the deepwise run (same machine, same threads)::

    python benchmarks/char_rnn_torch.py --text ../shared/data/tinyshakespeare/input.txt \\
        --minutes 6 --batch-size 64 --threads 2
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 deepwise train char-rnn --text ... \\
        --minutes 6 --batch-size 64 --eval-every 100000

Both print the training characters per second and the validation loss (nats/char).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def _streams(ids: np.ndarray, batch: int) -> np.ndarray:
    n = len(ids) // batch
    return np.ascontiguousarray(ids[:n * batch].reshape(batch, n).T)  # (n, B), time-major


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", required=True)
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bptt", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.array([lookup[c] for c in text], dtype=np.int64)
    n_val = int(len(ids) * 0.1)
    train, val = _streams(ids[:-n_val], a.batch_size), _streams(ids[-n_val:], 16)

    class CharRNN(nn.Module):
        def __init__(self, v: int) -> None:
            super().__init__()
            self.embed = nn.Embedding(v, 64)
            self.lstm = nn.LSTM(64, 256, 2, dropout=0.2)
            self.drop = nn.Dropout(0.2)
            self.head = nn.Linear(256, v)

        def forward(self, x: torch.Tensor, hidden: tuple | None) -> tuple:
            y, hidden = self.lstm(self.embed(x), hidden)
            return self.head(self.drop(y)), hidden

    model = CharRNN(len(chars))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    steps, seen, trained, hidden = 0, 0, 0.0, None
    budget = 60 * a.minutes
    while trained < budget:
        hidden = None
        for k in range(0, len(train) - 1, a.bptt):
            t0 = time.perf_counter()
            frac = min(trained / budget, 1.0)
            for g in opt.param_groups:
                g["lr"] = 1e-4 + 0.5 * (2e-3 - 1e-4) * (1 + math.cos(math.pi * frac))
            chunk = torch.from_numpy(train[k:k + a.bptt + 1])
            x, y = chunk[:-1], chunk[1:]
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            logits, hidden = model(x, hidden)
            loss = loss_fn(logits.reshape(-1, len(chars)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            trained += time.perf_counter() - t0
            steps += 1
            seen += y.numel()
            if trained >= budget:
                break
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for k in range(0, len(val) - 1, 256):
            chunk = torch.from_numpy(val[k:k + 257])
            logits, hidden = model(chunk[:-1], hidden)
            total += float(nn.functional.cross_entropy(
                logits.reshape(-1, len(chars)), chunk[1:].reshape(-1), reduction="sum"))
            count += chunk[1:].numel()
    print(f"pytorch char-rnn: {steps} steps in {trained / 60:.1f} min, {seen / trained:,.0f} "
          f"chars/s, validation loss {total / count:.4f} nats/char "
          f"({total / count / math.log(2):.4f} bits/char)")


if __name__ == "__main__":
    main()
