"""The MLP VAE of ``deepwise train autoencoder --kind vae`` in PyTorch and in deepwise, side by
side: the same architecture, data, optimizer, batch order and epochs; the test negative ELBO and
the seconds per epoch of each.

Architecture (models.autoencoder.VAE defaults): 784 -> 512 -> 256 (ReLU) -> mu, logvar (32 each);
z = mu + exp(logvar / 2) eps; 32 -> 256 -> 512 (ReLU) -> 784 logits. Loss: Bernoulli NLL of the
grey levels (binary cross-entropy with the logits, summed over pixels) + KL(q || N(0, I)), per
image. Adam, lr 1e-3, batch 128, the same shuffling (NumPy, seed) for both. Each library runs in
its own process (BLAS and OpenMP threads would slow each other), with the same thread count.
Both start from different random weights (each library's initialisation): the NELBOs agree
"within noise" when the difference is of the size of the run-to-run spread (give --seeds 2 to
see it).

Run: ``python benchmarks/vae_torch.py --epochs 5 --threads 1`` (add ``--limit N`` for a quick
check). Prints one JSON line per library and run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _data(limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    from deepwise.apps.autoencoder import load_images

    return load_images(True, limit=limit)[0], load_images(False, limit=limit)[0]


def run_torch(epochs: int, seed: int, limit: int | None) -> dict:
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(seed)
    x_train, x_test = (torch.from_numpy(a) for a in _data(limit))

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(),
                                         nn.Linear(512, 256), nn.ReLU())
            self.mu, self.logvar = nn.Linear(256, 32), nn.Linear(256, 32)
            self.decoder = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 512),
                                         nn.ReLU(), nn.Linear(512, 784),
                                         nn.Unflatten(1, (1, 28, 28)))

        def loss(self, x: torch.Tensor) -> torch.Tensor:
            h = self.encoder(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="sum")
            kl = 0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum()
            return (rec + kl) / len(x)

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in np.array_split(rng.permutation(len(x_train)),
                                  range(128, len(x_train), 128)):
            loss = model.loss(x_train[torch.from_numpy(idx)])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        nelbo = sum(model.loss(x_test[i:i + 500]).item() * len(x_test[i:i + 500])
                    for i in range(0, len(x_test), 500)) / len(x_test)
    return {"library": "torch", "seed": seed, "epochs": epochs, "test_nelbo": nelbo,
            "seconds_per_epoch": float(np.mean(times))}


def run_deepwise(epochs: int, seed: int, limit: int | None) -> dict:
    from deepwise.apps.autoencoder import build, pretrain, test_loss

    x_train, x_test = _data(limit)
    import deepwise as dw

    dw.manual_seed(seed)
    model, _ = build("vae")
    hist = pretrain(model, x_train, epochs, batch_size=128, lr=1e-3, seed=seed)
    return {"library": "deepwise", "seed": seed, "epochs": epochs,
            "test_nelbo": test_loss(model, x_test, seed=seed)["nelbo"],
            "seconds_per_epoch": hist["seconds_per_epoch"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, help="the first N images of each split only")
    p.add_argument("--only", choices=("torch", "deepwise"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.only:
        import torch

        torch.set_num_threads(args.threads)
        fn = run_torch if args.only == "torch" else run_deepwise
        for seed in range(args.seeds):
            print(json.dumps(fn(args.epochs, seed, args.limit)), flush=True)
        return
    env = dict(os.environ, **{v: str(args.threads) for v in
                              ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    for lib in ("deepwise", "torch"):
        cmd = [sys.executable, __file__, "--only", lib, "--epochs", str(args.epochs), "--seeds",
               str(args.seeds), "--threads", str(args.threads)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
