"""The Fashion-MNIST recipes in PyTorch (SmallCNN, or the MLP with --model mlp), for the per-epoch
time and accuracy next to
deepwise's (tests/test_fashion_cnn.py, ``deepwise train cnn``).

Same architecture (models.SmallCNN: [conv3x3 (no bias)-BN-ReLU-maxpool2] x (32, 64), dropout,
linear 3136->128, ReLU, dropout, linear 128->10), same data split (train_classifier's: 10% of
the training set held out with seed 0), same optimizer (Adam, lr 1e-3, cosine annealing over
the epochs, stepped once per epoch), batch size 128, dropout 0.1, epochs;
each epoch = one pass over the 54,000 training images + the validation pass, as in ``fit``.
Images are read with deepwise's IDX reader (the same arrays), then only PyTorch runs.

Run: ``python benchmarks/fashion_torch.py --epochs 8 --threads 2`` (CNN), or
``python benchmarks/fashion_torch.py --model mlp --dropout 0.2 --epochs 30 --threads 1`` (MLP).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def small_cnn(dropout: float = 0.25) -> nn.Module:
    feats, width = [], 1
    for c in (32, 64):
        feats += [nn.Conv2d(width, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                  nn.MaxPool2d(2)]
        width = c
    return nn.Sequential(nn.Sequential(*feats), nn.Sequential(
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(dropout), nn.Linear(128, 10)))


def mlp(dropout: float = 0.2) -> nn.Module:
    """models.MLP(784, (512, 256), 10, dropout): the ``deepwise train mlp`` recipe's network."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(512, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, 10))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 512):
            out = model(x[i:i + 512])
            loss += F.cross_entropy(out, y[i:i + 512], reduction="sum").item()
            correct += (out.argmax(1) == y[i:i + 512]).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--schedule", choices=("cosine", "none"), default="cosine")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    from deepwise.data.datasets import FashionMNIST

    tr, te = FashionMNIST(train=True).arrays(), FashionMNIST(train=False).arrays()
    order = np.random.default_rng(a.seed).permutation(len(tr[1]))  # train_classifier's split
    val_idx, tr_idx = order[:6000], order[6000:]
    xtr, ytr = torch.from_numpy(tr[0][tr_idx]), torch.from_numpy(tr[1][tr_idx])
    xva, yva = torch.from_numpy(tr[0][val_idx]), torch.from_numpy(tr[1][val_idx])
    xte, yte = torch.from_numpy(te[0]), torch.from_numpy(te[1])
    model = small_cnn(a.dropout) if a.model == "cnn" else mlp(a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
             if a.schedule == "cosine" else None)
    epoch_seconds = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), a.batch_size):
            idx = perm[i:i + a.batch_size]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        val_loss, val_acc = evaluate(model, xva, yva)
        seconds = time.perf_counter() - t0
        epoch_seconds.append(seconds)
        _, test_acc = evaluate(model, xte, yte)  # not timed: reported for the curve
        print(json.dumps({"epoch": epoch + 1, "seconds": round(seconds, 1),
                          "val_loss": round(val_loss, 4), "val_accuracy": round(val_acc, 4),
                          "test_accuracy": round(test_acc, 4)}), flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "epochs": a.epochs,
                      "train_seconds": round(sum(epoch_seconds), 1),
                      "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 1)}))


if __name__ == "__main__":
    main()
