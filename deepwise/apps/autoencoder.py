"""Learning from unlabeled data: autoencoders, denoising, variational autoencoders, few labels.

A network learns Fashion-MNIST's structure from the 60,000 training images alone (no labels),
by squeezing each image through a 32-number code and rebuilding it. Then the proof that what it
learned is useful: with only 1,000 (or 100) labelled images, a classifier that starts from the
pretrained encoder beats the same network trained from scratch with the same budget; a linear
probe on the frozen code shows how much class information it holds. The VAEs give a bound on the
images' log-likelihood (the test negative ELBO, nats per image) and draw new images; the
reconstruction error flags images unlike any seen (anomaly detection, ROC AUC against the UCI
8x8 digits upscaled to 28x28).

Pixels: grey levels in [0, 1] are the targets of a Bernoulli likelihood per pixel (binary
cross-entropy with the logits, summed over the 784 pixels). As the cross-entropy is linear in
the target, this is exactly the expected loss over stochastic binarisations of the image
(x_i ~ Bernoulli(grey_i)): the NELBO is in nats per image of stochastically binarised
Fashion-MNIST, averaged over binarisations.

The architectures are in ``deepwise/models/autoencoder.py``; the KL term is
``nn.functional.gaussian_kl``. Commands::

    deepwise train autoencoder --kind ae|dae|conv-ae|conv-dae|vae|conv-vae --out DIR
    deepwise train autoencoder --kind vae --finetune-labels 1000 --out DIR
    deepwise train autoencoder --kind dae --finetune-labels 1000 --finetune-recon 20 --out DIR
    deepwise sample DIR/model.safetensors --out samples.png [--what prior|reconstruction|...]

``DIR/model.safetensors`` holds the config and weights; ``DIR/metrics.json`` the test loss
(``test_nelbo`` for VAEs), the anomaly AUC and, with ``--finetune-labels``,
``accuracy_pretrained``, ``accuracy_scratch`` and ``accuracy_linear_probe``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, models, nn, optim
from ..autograd import no_grad
from ..io import atomic_path, atomic_write, save_model
from ..nn import functional as F
from ..tensor import Tensor
from ._commands import CommandError, register, train_parsers

__all__ = ["KINDS", "build", "load_images", "digits_28", "pretrain", "test_loss",
           "reconstruction_error", "roc_auc", "labelled_subset", "features", "augment",
           "fit_classifier",
           "semi_supervised", "image_grid", "save_png", "add_commands"]

# --kind -> (registered architecture, its config beyond the defaults)
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "ae": ("autoencoder", {}),
    "dae": ("autoencoder", {"noise": "mask", "noise_level": 0.5}),
    "conv-ae": ("conv-autoencoder", {}),
    "conv-dae": ("conv-autoencoder", {"noise": "mask", "noise_level": 0.5}),
    "vae": ("vae", {}),
    # the fully connected layer chosen on validation (session 6: 240.1 nats/image with 256
    # units, 241.9 with 128, 243.7 without, after 8 epochs); --hidden 0 is the older model
    "conv-vae": ("conv-vae", {"hidden": 256}),
}
WHAT = ("prior", "reconstruction", "denoise", "interpolation", "latent-map")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


# ---- data ---------------------------------------------------------------------------------------


def load_images(train: bool, data_dir: str | None = None, limit: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as ``(images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,))``; the
    first ``limit`` images only, when given."""
    from ..data.datasets import FashionMNIST

    ds = FashionMNIST(root=data_dir, train=train)
    data, targets = ds.data, ds.targets
    if limit is not None:
        data, targets = data[:limit], targets[:limit]
    return (data[:, None].astype(np.float32) / 255.0), np.asarray(targets, dtype=np.int64)


def digits_28(size: int = 28) -> np.ndarray:
    """All 1,797 UCI 8x8 digits (shipped with deepwise) scaled to [0, 1] and resized to
    ``size`` x ``size`` by bilinear interpolation: float32 (1797, 1, size, size). Images of a
    kind the Fashion-MNIST autoencoders never saw, for the anomaly test."""
    from ..data.datasets import Digits

    x = np.concatenate([Digits(train=True).data, Digits(train=False).data])
    x = x[:, None].astype(np.float32) / Digits.pixel_max
    out = F.interpolate(Tensor._make(x), size=(size, size), mode="bilinear").numpy()
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Any:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


# ---- models and the unsupervised recipe --------------------------------------------------------


def build(kind: str, latent: int = 32, noise: str | None = None, noise_level: float | None = None,
          beta: float = 1.0, hidden: int | None = None) -> tuple[Any, dict]:
    """``(model, config)`` for ``--kind``: the registered architecture with its config
    (``hidden``: the conv kinds' fully connected layer; None keeps the kind's own)."""
    if kind not in KINDS:
        raise CommandError(f"unknown --kind {kind!r}; choose one of {', '.join(KINDS)}")
    name, extra = KINDS[kind]
    config: dict[str, Any] = {"model": name, "latent": int(latent), **extra}
    if hidden is not None:
        if not name.startswith("conv-"):
            raise CommandError(f"--hidden is for the conv kinds; --kind {kind} sets its MLP "
                               "widths itself")
        config["hidden"] = int(hidden)
    if noise is not None:
        config["noise"] = noise
    if noise_level is not None:
        config["noise_level"] = float(noise_level)
    if name in ("vae", "conv-vae"):
        config["beta"] = float(beta)
    model = models.build(config)
    return model, {"model": name, **model.config}


def pretrain(model: Any, x: np.ndarray, epochs: int, batch_size: int = 128, lr: float = 1e-3,
             seed: int = 0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``model`` on the images ``x`` alone (its ``loss(x)``, nats per image) with Adam:
    ``{"train_loss": [per epoch], "seconds": ..., "seconds_per_epoch": ...}``."""
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses, start = [], time.perf_counter()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for idx in _batches(len(x), batch_size, rng):
            loss = model.loss(Tensor._make(x[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        losses.append(total / max(count, 1))
        if log:
            log(f"epoch {epoch + 1}/{epochs}  train loss {losses[-1]:.2f} nats/image  "
                f"({time.perf_counter() - start:.0f} s)")
    seconds = time.perf_counter() - start
    model.eval()
    return {"train_loss": losses, "seconds": seconds,
            "seconds_per_epoch": seconds / max(epochs, 1)}


def test_loss(model: Any, x: np.ndarray, batch_size: int = 500, seed: int = 0
              ) -> dict[str, float]:
    """The model's loss on ``x`` in eval mode (no corruption), nats per image: ``{"loss"}`` and,
    for a VAE, ``"nelbo"`` (one reparameterised sample per image), ``"recon"`` and ``"kl"``."""
    from ..models.autoencoder import negative_elbo

    backend.manual_seed(seed)
    model.eval()
    sums = np.zeros(3)
    with no_grad():
        for idx in _batches(len(x), batch_size, None):
            xb = Tensor._make(x[idx])
            if model.variational:
                logits, mu, logvar = model(xb)
                parts = [p.item() for p in negative_elbo(logits, xb, mu, logvar)]
            else:
                parts = [model.loss(xb).item(), 0.0, 0.0]
            sums += np.array(parts) * len(idx)
    loss, recon, kl = sums / max(len(x), 1)
    if not model.variational:
        return {"loss": float(loss)}
    return {"loss": float(loss), "nelbo": float(loss), "recon": float(recon), "kl": float(kl)}


def reconstruct(model: Any, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Reconstructions in [0, 1] (sigmoid of the logits; a VAE decodes its mean code mu)."""
    model.eval()
    out = []
    with no_grad():
        for idx in _batches(len(x), batch_size, None):
            z = model.encode(Tensor._make(x[idx]))
            out.append(model.decode(z).sigmoid().numpy())
    return np.concatenate(out) if out else np.zeros_like(x)


def reconstruction_error(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image reconstruction errors of ``x`` (a VAE from its mean code): ``"mse"``, the mean
    squared error per pixel, and ``"bce"``, the Bernoulli NLL in nats per image."""
    r = reconstruct(model, x)
    axes = tuple(range(1, x.ndim))
    rc = np.clip(r, 1e-7, 1 - 1e-7)
    bce = -(x * np.log(rc) + (1 - x) * np.log1p(-rc)).sum(axis=axes)
    return {"mse": ((r - x) ** 2).mean(axis=axes), "bce": bce}


def roc_auc(scores_normal: np.ndarray, scores_anomal: np.ndarray) -> float:
    """The area under the ROC curve when a higher score means "anomaly": the probability that
    a random anomaly scores above a random normal sample (ties count one half), by ranks
    (Mann-Whitney U)."""
    s = np.concatenate([scores_normal, scores_anomal]).astype(np.float64)
    n0, n1 = len(scores_normal), len(scores_anomal)
    if n0 == 0 or n1 == 0:
        raise ValueError("roc_auc: needs at least one normal and one anomalous score")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties: each run of equal scores gets the mean of its positions
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    u = ranks[n0:].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n0 * n1))


# ---- few labels: fine-tuning, from scratch, linear probe ---------------------------------------


def labelled_subset(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of each class, drawn with ``seed`` (sorted)."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        if len(where) < per_class:
            raise ValueError(f"labelled_subset: class {c} has {len(where)} examples, fewer "
                             f"than {per_class}")
        picked.append(rng.choice(where, per_class, replace=False))
    return np.sort(np.concatenate(picked))


def features(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The codes ``model.encode(x)`` (mu for a VAE), float32 (N, latent), without gradient."""
    model.eval()
    with no_grad():
        return np.concatenate([model.encode(Tensor._make(x[i])).numpy()
                               for i in _batches(len(x), batch_size, None)])


def augment(x: np.ndarray, rng: np.random.Generator, shift: int = 2, flip: bool = True
            ) -> np.ndarray:
    """A fresh random distortion of the image batch ``x`` (N, C, H, W): each image moved by up
    to ``shift`` pixels each way (zero fill) and, with ``flip``, mirrored left-right with
    probability 1/2 (a garment mirrored is still the same garment). Returns a new float32 array
    of the same shape; the draws come from ``rng``."""
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, n))
    out = windows[np.arange(n), :, dy, dx]  # (N, C, H, W): image i's window at (dy_i, dx_i)
    if flip:
        out = np.where((rng.random(n) < 0.5)[:, None, None, None], out[..., ::-1], out)
    return np.ascontiguousarray(out, dtype=np.float32)


def fit_classifier(model: Any, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int = 100,
                   lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0,
                   encoder_lr: float | None = None, augment_data: bool = False,
                   unlabelled: np.ndarray | None = None, recon_weight: float = 0.0) -> Any:
    """Train ``model`` (logits) with cross-entropy and Adam for exactly ``steps`` minibatch
    steps (the budget every contender gets); its trainable parameters only.

    ``encoder_lr``: the learning rate of ``model.encoder_parameters()`` (an
    :class:`~deepwise.models.autoencoder.EncoderClassifier`), ``lr`` the head's.
    ``augment_data``: each labelled batch distorted by :func:`augment`. ``recon_weight`` > 0
    (a classifier built with ``keep_decoder=True``): the joint objective, cross-entropy plus
    ``recon_weight`` x the reconstruction loss per pixel of a batch of ``unlabelled`` images
    drawn at each step."""
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    groups: Any = params
    if encoder_lr is not None:
        enc = {id(p) for p in model.encoder_parameters()}
        groups = [{"params": [p for p in params if id(p) in enc], "lr": encoder_lr},
                  {"params": [p for p in params if id(p) not in enc]}]
    opt = optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    joint = recon_weight > 0
    if joint and (unlabelled is None or not len(unlabelled)):
        raise ValueError("fit_classifier: recon_weight > 0 needs unlabelled images")
    model.train()
    step = 0
    while step < steps:
        for idx in _batches(len(x), batch_size, rng):
            xb = augment(x[idx], rng) if augment_data else x[idx]
            loss = F.cross_entropy(model(Tensor._make(xb)), Tensor._make(y[idx]))
            if joint:
                xu = unlabelled[rng.integers(0, len(unlabelled), batch_size)]
                recon = model.reconstruction_loss(Tensor._make(xu))
                loss = loss + recon * (recon_weight / xu[0].size)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    model.eval()
    return model


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    model.eval()
    hits = 0
    with no_grad():
        for idx in _batches(len(x), batch_size, None):
            hits += int((model(Tensor._make(x[idx])).numpy().argmax(1) == y[idx]).sum())
    return hits / max(len(x), 1)


def semi_supervised(pretrained: Any, config: dict, x_train: np.ndarray, y_train: np.ndarray,
                    x_test: np.ndarray, y_test: np.ndarray, labels: int,
                    seeds: Sequence[int] = (0,), steps: int = 500, lr: float = 1e-3,
                    batch_size: int = 100, encoder_lr_scale: float = 1.0,
                    augment_data: bool = False, recon_weight: float = 0.0,
                    unlabelled: np.ndarray | None = None) -> dict[str, Any]:
    """Few labels: for each seed, ``labels // 10`` images per class are drawn; then the same
    network (:class:`~deepwise.models.autoencoder.EncoderClassifier` on ``config``) is trained
    for ``steps`` steps (a) from the pretrained encoder (fine-tuning all of it), (b) from
    scratch, and (c) as a linear probe: logistic regression on the frozen pretrained codes.
    Both (a) and (b) see the same batches, the same augmentation (``augment_data``) and Adam
    at ``lr``; what only the pretrained network has: its encoder's learning rate is ``lr *
    encoder_lr_scale``, and with ``recon_weight`` > 0 it keeps learning from the ``unlabelled``
    images (default ``x_train``) through the joint objective (see :func:`fit_classifier`).
    Returns the test accuracies per seed and their mean and standard deviation."""
    from ..models.autoencoder import EncoderClassifier

    if labels % 10 or labels < 10:
        raise CommandError(f"--finetune-labels {labels}: give a multiple of 10 (the same number "
                           "of labels for each of the 10 classes)")
    runs: dict[str, list[float]] = {"pretrained": [], "scratch": [], "linear_probe": []}
    f_train, f_test = features(pretrained, x_train), features(pretrained, x_test)
    for seed in seeds:
        idx = labelled_subset(y_train, labels // 10, seed=seed)
        xs, ys = x_train[idx], y_train[idx]
        for name in ("pretrained", "scratch"):
            backend.manual_seed(1000 + seed)  # the same head (and scratch) initialisation
            pre = name == "pretrained"
            clf = EncoderClassifier(config, keep_decoder=pre and recon_weight > 0)
            if pre:
                clf.load_encoder(pretrained)
            fit_classifier(clf, xs, ys, steps, batch_size, lr, seed=seed,
                           encoder_lr=lr * encoder_lr_scale if pre else None,
                           augment_data=augment_data,
                           unlabelled=x_train if unlabelled is None else unlabelled,
                           recon_weight=recon_weight if pre else 0.0)
            runs[name].append(accuracy(clf, x_test, y_test))
        backend.manual_seed(1000 + seed)
        probe = nn.Linear(f_train.shape[1], 10)
        fit_classifier(probe, f_train[idx], ys, steps, batch_size, 1e-2, seed=seed)
        runs["linear_probe"].append(accuracy(probe, f_test, y_test))
    out: dict[str, Any] = {"labels": labels, "seeds": list(seeds), "steps": steps, "lr": lr,
                           "encoder_lr_scale": encoder_lr_scale, "augment": augment_data,
                           "recon_weight": recon_weight}
    for name, accs in runs.items():
        out[f"accuracy_{name}"] = float(np.mean(accs))
        out[f"accuracy_{name}_std"] = float(np.std(accs))
        out[f"accuracy_{name}_runs"] = [round(a, 4) for a in accs]
    return out


# ---- pictures -----------------------------------------------------------------------------------


def image_grid(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """Tile images (N, 1, H, W) in [0, 1] into one uint8 picture, ``cols`` per row."""
    n, _, h, w = images.shape
    rows = max(-(-n // cols), 1)
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = images[i, 0]
    return (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_png(grid: np.ndarray, path: str, scale: int = 2) -> None:
    """Write a uint8 grey picture to ``path`` (PNG, through Pillow; atomically)."""
    from PIL import Image

    img = Image.fromarray(grid, mode="L")
    if scale > 1:
        img = img.resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _latent_map(model: Any, x: np.ndarray, y: np.ndarray, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = features(model, x)
    how = "the 2 latent dimensions"
    if z.shape[1] > 2:  # the two principal directions of the codes
        zc = z - z.mean(0)
        z = zc @ np.linalg.svd(zc, full_matrices=False)[2][:2].T
        how = f"the first 2 principal components of the {model.latent}-d codes"
    fig, ax = plt.subplots(figsize=(7, 6))
    sc = ax.scatter(z[:, 0], z[:, 1], c=y, cmap="tab10", s=3, alpha=0.7)
    handles = [plt.Line2D([], [], marker="o", ls="", color=sc.cmap(sc.norm(c)), label=name)
               for c, name in enumerate(CLASSES)]
    ax.legend(handles=handles, fontsize=7, markerscale=1.2, loc="best")
    ax.set_title(f"Fashion-MNIST test set in the code space ({how})", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return how


def picture(model: Any, what: str, x: np.ndarray, y: np.ndarray, path: str, n: int = 16,
            seed: int = 0, noise: str = "mask", noise_level: float = 0.5) -> str:
    """Write one PNG of ``what`` (one of :data:`WHAT`) for ``model`` to ``path``; returns a
    one-line description. ``x``, ``y``: test images and labels to draw from."""
    from ..models.autoencoder import corrupt

    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pick = x[rng.choice(len(x), min(n, len(x)), replace=False)]
    model.eval()
    if what == "prior":
        if not model.variational:
            raise CommandError("--what prior needs a VAE checkpoint (--kind vae or conv-vae): a "
                               "plain autoencoder has no prior to draw codes from")
        with no_grad():
            z = Tensor._make(np.random.default_rng(seed).standard_normal(
                (n, model.latent)).astype(np.float32))
            imgs = model.decode(z).sigmoid().numpy()
        save_png(image_grid(imgs, cols=min(n, 8)), path)
        return f"{n} images decoded from codes z ~ N(0, I)"
    if what == "reconstruction":
        rec = reconstruct(model, pick)
        save_png(image_grid(np.stack([pick, rec], 1).reshape(-1, *pick.shape[1:]), cols=8), path)
        return f"{len(pick)} test images (left) and their reconstructions (right), in pairs"
    if what == "denoise":
        with no_grad():
            noisy = corrupt(Tensor._make(pick), noise, noise_level).numpy()
        # the encoder of a masking DAE saw the kept pixels scaled by 1 / (1 - level)
        scale = 1.0 / (1.0 - noise_level) if noise == "mask" and noise_level < 1 else 1.0
        rec = reconstruct(model, noisy * np.float32(scale))
        rows = np.stack([pick, noisy, rec], 1).reshape(-1, *pick.shape[1:])
        save_png(image_grid(rows, cols=9), path)
        return (f"triples: clean test image, {noise} noise (level {noise_level}), "
                "the reconstruction from the noisy one")
    if what == "interpolation":
        steps = 10
        rows = []
        with no_grad():
            for k in range(0, min(len(pick) - 1, 8), 2):
                z = model.encode(Tensor._make(pick[k:k + 2])).numpy()
                t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
                zs = (1 - t) * z[0] + t * z[1]
                rows.append(model.decode(Tensor._make(zs)).sigmoid().numpy())
        save_png(image_grid(np.concatenate(rows), cols=steps), path)
        return (f"{len(rows)} rows: the decodings of {steps} codes on the straight line between "
                "the codes of two test images")
    if what == "latent-map":
        return _latent_map(model, x, y, path)
    raise CommandError(f"--what {what!r}: choose one of {', '.join(WHAT)}")


# ---- commands -----------------------------------------------------------------------------------


def _log(args: argparse.Namespace) -> Callable[[str], None] | None:
    return None if args.quiet else (lambda s: print(s, flush=True))


def cmd_train(args: argparse.Namespace) -> int:
    """``deepwise train autoencoder``: learn from the training images alone, test, write the
    checkpoint and metrics (with ``--finetune-labels``, the few-labels comparison too)."""
    if args.epochs < 1:
        raise CommandError(f"--epochs {args.epochs}: give at least 1")
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CommandError(f"--out {args.out}: exists and is not a directory")
    if args.finetune_recon < 0 or args.finetune_encoder_lr_scale <= 0:
        raise CommandError("--finetune-recon must be >= 0 and --finetune-encoder-lr-scale > 0, "
                           f"got {args.finetune_recon} and {args.finetune_encoder_lr_scale}")
    backend.manual_seed(args.seed)  # the initial weights too: a run repeats exactly
    model, config = build(args.kind, args.latent, args.noise, args.noise_level, args.beta,
                          args.hidden)
    x_train, y_train = load_images(True, args.data_dir, args.limit)
    if args.validation:
        if not 0 < args.validation < len(x_train):
            raise CommandError(f"--validation {args.validation}: must be between 1 and the "
                               f"{len(x_train):,} training images")
        cut = len(x_train) - args.validation  # the test set is never read
        x_train, y_train, x_test, y_test = x_train[:cut], y_train[:cut], x_train[cut:], \
            y_train[cut:]
    else:
        x_test, y_test = load_images(False, args.data_dir, args.limit)
    log = _log(args)
    if log:
        n_params = sum(p.data.size for p in model.parameters())
        log(f"{args.kind}: {config['model']} ({n_params:,} parameters), {len(x_train):,} "
            f"training images, no labels, {args.epochs} epochs")
    hist = pretrain(model, x_train, args.epochs, args.batch_size, args.lr, args.seed, log)
    test = test_loss(model, x_test, seed=args.seed)
    err_f, err_d = reconstruction_error(model, x_test), reconstruction_error(model, digits_28())
    metrics: dict[str, Any] = {
        "kind": args.kind, "model": config["model"], "epochs": args.epochs,
        "train_images": len(x_train), "test_images": len(x_test),
        "evaluated_on": (f"validation: the last {args.validation} training images"
                         if args.validation else "the test set"),
        "likelihood": "Bernoulli per pixel (grey levels as probabilities), nats per image",
        "test_loss": test["loss"], "train_loss": hist["train_loss"],
        "seconds": hist["seconds"], "seconds_per_epoch": hist["seconds_per_epoch"],
        "test_mse": float(err_f["mse"].mean()),
        "anomaly_auc_mse": roc_auc(err_f["mse"], err_d["mse"]),
        "anomaly_auc_bce": roc_auc(err_f["bce"], err_d["bce"]),
    }
    if model.variational:
        metrics.update(test_nelbo=test["nelbo"], test_recon=test["recon"], test_kl=test["kl"])
    if config.get("noise"):
        model.train()  # corruption on, as in training; same seed -> same noise
        backend.manual_seed(args.seed)
        with no_grad():
            metrics["test_denoise_loss"] = float(np.mean(
                [model.loss(Tensor._make(x_test[i])).item()
                 for i in _batches(len(x_test), 500, None)]))
        model.eval()
    if args.finetune_labels:
        seeds = list(range(args.seed, args.seed + args.finetune_seeds))
        runs = {str(n): semi_supervised(model, config, x_train, y_train, x_test, y_test, n,
                                        seeds, args.finetune_steps, args.finetune_lr,
                                        encoder_lr_scale=args.finetune_encoder_lr_scale,
                                        augment_data=args.finetune_augment,
                                        recon_weight=args.finetune_recon)
                for n in args.finetune_labels}
        metrics.update(runs[str(args.finetune_labels[0])])  # the first N at the top level
        metrics["finetune"] = runs
    print(f"{'validation' if args.validation else 'test'} loss {metrics['test_loss']:.2f} "
          "nats/image"
          + (f" (NELBO: recon {metrics['test_recon']:.2f} + KL {metrics['test_kl']:.2f})"
             if model.variational else "")
          + f"; anomaly AUC vs digits {metrics['anomaly_auc_mse']:.3f} (MSE score)")
    for n, r in metrics.get("finetune", {}).items():
        print(f"{n} labels: pretrained {r['accuracy_pretrained']:.4f}, scratch "
              f"{r['accuracy_scratch']:.4f}, linear probe {r['accuracy_linear_probe']:.4f}"
              + (f" (mean of {len(r['seeds'])} label draws)" if len(r["seeds"]) > 1 else ""))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        save_model(os.path.join(args.out, "model.safetensors"), model, config,
                   kind=args.kind, data="fashion-mnist")
        with atomic_write(os.path.join(args.out, "metrics.json")) as f:
            json.dump(metrics, f, indent=2)
        print(f"wrote {args.out}/model.safetensors and {args.out}/metrics.json")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``deepwise sample CHECKPOINT --out PNG``: draw images from a VAE's prior (or, with
    --what, reconstructions, denoising, interpolations, the latent map of the test set)."""
    model, _ = models.load(args.checkpoint, expected=tuple(n for n, _ in KINDS.values()),
                           writer="deepwise train autoencoder")
    if not args.out.lower().endswith(".png"):
        raise CommandError(f"--out {args.out}: give a .png file name")
    x, y = np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64)
    if args.what != "prior":
        x, y = load_images(False, args.data_dir, args.limit)
    what = picture(model, args.what, x, y, args.out, n=args.n, seed=args.seed)
    print(f"wrote {args.out}: {what}")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train autoencoder`` and ``deepwise sample``."""
    help_text = "learn Fashion-MNIST from the images alone: an autoencoder, denoising or VAE"
    p = train_parsers(subparsers).add_parser(
        "autoencoder", help=help_text,
        description="Learn Fashion-MNIST from the 60,000 training images alone (no labels), "
        "report the test loss in nats per image (the negative ELBO for a VAE) and the anomaly "
        "ROC AUC against the 8x8 digits, and write DIR/model.safetensors and DIR/metrics.json. "
        "With --finetune-labels N: compare a classifier fine-tuned from the pretrained encoder "
        "with the same network trained from scratch on N labels, and a linear probe.")
    p.add_argument("--kind", choices=tuple(KINDS), default="vae",
                   help="ae, dae (denoising, masking noise), conv-ae, conv-dae, vae, conv-vae")
    p.add_argument("--latent", type=int, default=32, help="size of the code")
    p.add_argument("--noise", choices=("gaussian", "mask"), help="corrupt the training input "
                   "(dae's default: mask)")
    p.add_argument("--noise-level", type=float, help="noise std (gaussian) or the fraction of "
                   "pixels set to 0 (mask); dae's default 0.5")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the VAE's KL term")
    p.add_argument("--hidden", type=int, default=None, metavar="H", help="conv kinds: a fully "
                   "connected layer of H units between the feature map and the code (0: none; "
                   "default 256 for conv-vae, none for conv-ae and conv-dae)")
    p.add_argument("--validation", type=int, default=0, metavar="N", help="hold out the last N "
                   "training images and report every figure on them instead of the test set")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--finetune-labels", type=int, nargs="+", default=[], metavar="N",
                   help="then compare, with N labels (N/10 per class), fine-tuning the "
                   "pretrained encoder, the same network from scratch and a linear probe "
                   "(several N: each in turn, e.g. 1000 100)")
    p.add_argument("--finetune-steps", type=int, default=500, help="steps of each contender")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--finetune-encoder-lr-scale", type=float, default=1.0, metavar="S",
                   help="the pretrained encoder learns at S x --finetune-lr, its new head at "
                   "--finetune-lr (the from-scratch network: all at --finetune-lr)")
    p.add_argument("--finetune-augment", action="store_true", help="random shifts (2 pixels) "
                   "and mirroring of the labelled images, for both contenders")
    p.add_argument("--finetune-recon", type=float, default=0.0, metavar="W",
                   help="joint objective for the pretrained network: cross-entropy + W x its "
                   "reconstruction loss per pixel on a batch of unlabelled training images "
                   "per step (the from-scratch network sees the labels only)")
    p.add_argument("--finetune-seeds", type=int, default=1, help="label draws to average")
    p.add_argument("--data-dir", help="where Fashion-MNIST's IDX files are (default: search "
                   "$DEEPWISE_DATA, ~/.cache/deepwise, /usr/share/datasets)")
    p.add_argument("--limit", type=int, help="use only the first N images of each split")
    p.add_argument("--out", help="directory for model.safetensors and metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    register(p, cmd_train)

    s = subparsers.add_parser(
        "sample", help="draw images from a trained VAE (or show what an autoencoder does)",
        description="Write a PNG: images decoded from the prior N(0, I) of a VAE (--what "
        "prior), or test images with their reconstructions, denoised images, interpolations "
        "between two codes, or the map of the test set in the code space.")
    s.add_argument("checkpoint", help="model.safetensors written by deepwise train autoencoder")
    s.add_argument("--out", required=True, help="the PNG file to write")
    s.add_argument("--what", choices=WHAT, default="prior")
    s.add_argument("--n", type=int, default=32, help="how many images")
    s.add_argument("--data-dir")
    s.add_argument("--limit", type=int, help="draw test images from the first N only")
    s.add_argument("--seed", type=int, default=0)
    register(s, cmd_sample)
