"""Faces: recognise the people a CNN was trained on (identification), and tell apart people it
has never seen (verification) - on the ORL (AT&T) photos, 10 grey 92x112 photos per person.

* Identification (``--task identify``): :class:`models.FaceCNN` - conv-BN-ReLU blocks, global
  average pooling, one linear layer over the known people - trained with cross-entropy on
  augmented photos (small rotations, scalings, shifts, horizontal flips, brightness and
  contrast: ``data.image.random_affine``). The standard protocol trains on photos 1-5 of each
  person and tests on 6-10; :func:`eigenfaces` (PCA + nearest neighbour, Turk and Pentland
  1991) is the classical baseline on the same split.
* Verification (``--task verify``): :class:`models.FaceEmbedder` maps a photo to a unit vector;
  it is trained on some people with a metric loss - ArcFace's additive angular margin
  (``nn.ArcFaceLoss``, the default) or the batch-hard triplet loss
  (``F.batch_hard_triplet_loss`` on batches of P people x K photos, ``--loss batch-hard``) -
  and tested on every pair of photos of the *other* people: same-person pairs should score a
  higher cosine similarity than different-person pairs. The photos are compared by the
  network's pooled conv trunk (``FaceEmbedder.features``), not by the projection the loss was
  trained on: the projection specialises to the training people, and on people held out of
  them the trunk separated the pairs better (BENCHMARKS.md). The ROC curve, its area (AUC) and
  the equal error rate (where false accepts = false rejects) measure it; the checkpoint keeps
  the threshold of the equal error rate on the training people, which ``deepwise verify``
  applies.

Photos are halved to 46x56 (2x2 means) and standardised with the training set's mean and
standard deviation; both steps are kept in the checkpoint (``preprocess``).

Commands::

    deepwise train faces --data orl_faces.zip --task identify --out runs/faces-id
    deepwise train faces --data orl_faces.zip --task verify --out runs/faces-verify
    deepwise embed runs/faces-verify/faces.safetensors a.pgm b.pgm --out emb.npy
    deepwise verify runs/faces-verify/faces.safetensors a.pgm b.pgm
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, models, nn, optim
from ..autograd import no_grad
from ..data.datasets.orl import read_orl
from ..data.image import random_affine, read_grey
from ..io import atomic_write, save_model
from ..nn import functional as F
from ..tensor import from_numpy
from ._commands import CommandError, register, train_parsers

__all__ = ["PHOTO_SIZE", "load_faces", "prepare", "eigenfaces", "train_identifier",
           "train_embedder", "identify", "embed", "verification_scores", "roc_curve", "roc_auc",
           "equal_error_rate", "roc_figure", "save_figures_identify", "save_figures_verify",
           "add_commands"]

PHOTO_SIZE = (92, 112)  # (width, height) of the ORL photos
CHECKPOINT = "faces.safetensors"
WRITER = "deepwise train faces"


# --------------------------------------------------------------------------------------------
# data


def load_faces(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images float32 (N, 1, 112, 92) in [0, 1], person int64 (N,), photo int64 (N,))`` of
    the ORL zip or directory at ``path``."""
    images, person, photo = read_orl(path)
    if (images.shape[2], images.shape[1]) != PHOTO_SIZE:
        raise CommandError(f"'{path}': the photos are {images.shape[2]}x{images.shape[1]}, "
                           f"the ORL faces are {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}")
    return np.divide(images[:, None], np.float32(255), dtype=np.float32), person, photo


def _halve(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def prepare(x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Photos (N, 1, 112, 92) in [0, 1] -> the network's input: halved to 56x46 and
    standardised with ``stats`` (``{"mean": m, "std": s}``, the training set's)."""
    return ((_halve(x) - np.float32(stats["mean"])) / np.float32(stats["std"])).astype(np.float32)


def _stats(x: np.ndarray) -> dict[str, Any]:
    h = _halve(x)
    return {"mean": float(h.mean()), "std": float(h.std()), "photo_size": list(PHOTO_SIZE),
            "downsample": 2}


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Face augmentation at the network's resolution: rotation +-10 deg, scale 0.9-1.1, shifts
    up to 6% (3 pixels), horizontal flip, brightness and contrast +-20%."""
    return random_affine(x, degrees=10.0, translate=0.06, scale=(0.9, 1.1), flip_p=0.5,
                         brightness=0.2, contrast=0.2, generator=rng)


# --------------------------------------------------------------------------------------------
# the classical baseline


def eigenfaces(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
               n_components: int | None = None) -> np.ndarray:
    """Eigenfaces (Turk and Pentland, 1991): project the photos on the principal components of
    the training photos (the "eigenfaces"), and give each test photo the label of the nearest
    training photo there. Returns the predicted labels of ``test_x``.

    ``n_components``: how many components (default: all, ``len(train_x) - 1``)."""
    a = train_x.reshape(len(train_x), -1).astype(np.float64)
    mean = a.mean(axis=0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    k = len(a) - 1 if n_components is None else int(n_components)
    basis = vt[:k]
    p_train = (a - mean) @ basis.T
    p_test = (test_x.reshape(len(test_x), -1) - mean) @ basis.T
    d = ((p_test[:, None, :] - p_train[None, :, :]) ** 2).sum(-1)
    return train_y[d.argmin(axis=1)]


# --------------------------------------------------------------------------------------------
# training


def _cosine_lr(opt: Any, epochs: int) -> Any:
    return optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(epochs), 1))


def train_identifier(train_x: np.ndarray, train_y: np.ndarray, *, epochs: int = 80,
                     lr: float = 2e-3, batch_size: int = 16, channels: tuple = (32, 64, 128, 256),
                     depth: int = 1, augment: bool = True, seed: int = 0,
                     log: Any = None) -> tuple[Any, dict[str, Any]]:
    """Train a :class:`models.FaceCNN` on photos (N, 1, 112, 92) in [0, 1] with labels 0..C-1:
    AdamW (weight decay 5e-4), cosine learning rate, label smoothing 0.1, augmentation.
    Returns ``(model in eval mode, preprocess stats)``."""
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stats = _stats(train_x)
    x = prepare(train_x, {"mean": 0.0, "std": 1.0})  # augment in [0, 1], then standardise
    model = models.FaceCNN(num_classes=int(train_y.max()) + 1, channels=channels, depth=depth)
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = _cosine_lr(opt, epochs)
    mean, std = np.float32(stats["mean"]), np.float32(stats["std"])
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            xb = _augment(x[b], rng) if augment else x[b]
            loss = F.cross_entropy(model(from_numpy((xb - mean) / std)),
                                   from_numpy(train_y[b]), label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        sched.step()
        if log is not None:
            log(epoch, total / len(x))
    model.eval()
    return model, stats


def _pk_batches(y: np.ndarray, p: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of P-people x K-photos batches (Hermans et al.): each person's photos are
    shuffled and dealt out K at a time; the people are shuffled into groups of P."""
    people = np.unique(y)
    chunks = []
    for person in people:
        idx = rng.permutation(np.flatnonzero(y == person))
        chunks += [idx[i:i + k] for i in range(0, len(idx) - k + 1, k)]
    order = rng.permutation(len(chunks))
    batches, current, owners = [], [], set()
    for j in order:
        owner = int(y[chunks[j][0]])
        if owner in owners:  # a person at most once per batch
            continue
        current.append(chunks[j])
        owners.add(owner)
        if len(current) == p:
            batches.append(np.concatenate(current))
            current, owners = [], set()
    return batches


def train_embedder(train_x: np.ndarray, train_y: np.ndarray, *, loss: str = "arcface",
                   epochs: int = 30, lr: float = 2e-3, batch_size: int = 32,
                   margin: float | None = None, scale: float = 16.0, embedding_dim: int = 64,
                   channels: tuple = (32, 64, 128, 256), depth: int = 1,
                   pool: tuple = (3, 2), people_per_batch: int = 8, photos_per_person: int = 4,
                   seed: int = 0, log: Any = None) -> tuple[Any, dict[str, Any]]:
    """Train a :class:`models.FaceEmbedder` on augmented photos (AdamW, cosine learning rate)
    with a metric loss. Returns ``(model in eval mode, preprocess stats)``.

    * ``loss="arcface"``: ``nn.ArcFaceLoss`` (angular margin ``margin``, default 0.3, and
      ``scale``) over the training people, on shuffled batches of ``batch_size``;
    * ``loss="batch-hard"``: ``F.batch_hard_triplet_loss`` (``margin``, default 0.2) on batches
      of ``people_per_batch`` people x ``photos_per_person`` photos.
    """
    if loss not in ("arcface", "batch-hard"):
        raise ValueError(f"train_embedder: loss must be 'arcface' or 'batch-hard', got {loss!r}")
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stats = _stats(train_x)
    x = prepare(train_x, {"mean": 0.0, "std": 1.0})
    people, y = np.unique(train_y, return_inverse=True)
    model = models.FaceEmbedder(embedding_dim=embedding_dim, channels=channels, depth=depth,
                                pool=pool, dropout=0.3)
    params = list(model.parameters())
    if loss == "arcface":
        head = nn.ArcFaceLoss(len(people), embedding_dim, margin=0.3 if margin is None
                              else margin, scale=scale)
        params += list(head.parameters())
    opt = optim.AdamW(params, lr=lr, weight_decay=5e-4)
    sched = _cosine_lr(opt, epochs)
    mean, std = np.float32(stats["mean"]), np.float32(stats["std"])
    p = min(int(people_per_batch), len(people))
    for epoch in range(epochs):
        model.train()
        if loss == "arcface":
            order = rng.permutation(len(x))
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        else:
            batches = _pk_batches(y, p, photos_per_person, rng)
        total = 0.0
        for b in batches:
            emb = model(from_numpy((_augment(x[b], rng) - mean) / std))
            if loss == "arcface":
                value = head(emb, from_numpy(y[b]))
            else:
                value = F.batch_hard_triplet_loss(emb, y[b], margin=0.2 if margin is None
                                                  else margin)
            opt.zero_grad()
            value.backward()
            opt.step()
            total += value.item()
        sched.step()
        if log is not None:
            log(epoch, total / max(len(batches), 1))
    model.eval()
    return model, stats


# --------------------------------------------------------------------------------------------
# evaluation


def _forward(model: Any, x: np.ndarray, stats: dict[str, Any], batch: int = 64,
             what: str = "forward") -> np.ndarray:
    outs = []
    model.eval()
    with no_grad():
        for i in range(0, len(x), batch):
            t = from_numpy(prepare(x[i:i + batch], stats))
            out = getattr(model, what)(t) if what != "forward" else model(t)
            outs.append(out.data)
    return np.concatenate(outs)


def identify(model: Any, x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """A FaceCNN's logits (N, people) for photos (N, 1, 112, 92), averaged with those of the
    mirrored photos (test-time augmentation: a face and its mirror image are the same person)."""
    return (_forward(model, x, stats) + _forward(model, x[..., ::-1], stats)) / 2


def embed(model: Any, x: np.ndarray, stats: dict[str, Any],
          layer: str = "features") -> np.ndarray:
    """L2-normalised rows, one per photo, each averaged with the mirrored photo's, then
    normalised: ``layer="features"`` (the default) the pooled conv trunk of a FaceEmbedder or
    FaceCNN; ``layer="output"`` a FaceEmbedder's projection, the metric loss's input (it
    specialises to the training people: the trunk compares unseen people better)."""
    if layer not in ("features", "output"):
        raise ValueError(f"embed: layer must be 'features' or 'output', got {layer!r}")
    if layer == "output" and not isinstance(model, models.FaceEmbedder):
        raise ValueError(f"embed: layer='output' needs a FaceEmbedder, got "
                         f"{type(model).__name__}")
    what = "features" if layer == "features" else "forward"
    f = _forward(model, x, stats, what=what) + _forward(model, x[..., ::-1], stats, what=what)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def verification_scores(emb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cosine similarity, same person)`` of every unordered pair of distinct photos."""
    i, j = np.triu_indices(len(emb), k=1)
    return (emb[i] * emb[j]).sum(axis=1), labels[i] == labels[j]


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """``(false positive rate, true positive rate, thresholds)``: accepting every pair that
    scores >= threshold, for each distinct score from the highest down (first point (0, 0)
    at threshold +inf)."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    if positive.all() or not positive.any():
        raise ValueError("roc_curve: needs both positive and negative pairs")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tp, fp = np.cumsum(p)[last], np.cumsum(~p)[last]
    tpr = np.r_[0.0, tp / p.sum()]
    fpr = np.r_[0.0, fp / (~p).sum()]
    return fpr, tpr, np.r_[np.inf, s[last]]


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a random positive pair scores above a
    random negative one (ties count one half)."""
    fpr, tpr, _ = roc_curve(scores, positive)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def equal_error_rate(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """``(EER, threshold)``: the error rate where the false accept rate equals the false
    reject rate (linear interpolation between ROC points), and the threshold there."""
    fpr, tpr, thr = roc_curve(scores, positive)
    fnr = 1 - tpr
    k = int(np.flatnonzero(fnr <= fpr)[0])  # the first point where false rejects <= accepts
    if k == 0:
        return 0.0, float(thr[1])
    # between points k-1 and k, fnr - fpr goes from > 0 to <= 0
    a, b = fnr[k - 1] - fpr[k - 1], fnr[k] - fpr[k]
    t = a / (a - b)
    eer = fpr[k - 1] + t * (fpr[k] - fpr[k - 1])
    lo = thr[k - 1] if np.isfinite(thr[k - 1]) else thr[k]
    return float(eer), float(lo + t * (thr[k] - lo))


# --------------------------------------------------------------------------------------------
# pictures


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CommandError("the figures need matplotlib: pip install matplotlib (or pass "
                           "--no-figures)") from None
    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _plt()
    with atomic_write(path, "wb", encoding=None) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def saliency(model: Any, x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """|d score / d pixel| of each photo's predicted class (Simonyan et al., 2014), at the
    network's input resolution, (N, 56, 46)."""
    model.eval()
    t = from_numpy(prepare(x, stats)).requires_grad_(True)
    logits = model(t)
    pick = logits.data.argmax(axis=1)
    onehot = np.zeros_like(logits.data)
    onehot[np.arange(len(pick)), pick] = 1
    (logits * from_numpy(onehot)).sum().backward()
    return np.abs(t.grad.data[:, 0])


def _neighbours_figure(query: np.ndarray, gallery: np.ndarray, q_emb: np.ndarray,
                       g_emb: np.ndarray, q_lab: np.ndarray, g_lab: np.ndarray, path: Path,
                       title: str = "nearest training photos (cosine similarity)",
                       k: int = 4) -> None:
    plt = _plt()
    sim = q_emb @ g_emb.T
    fig, axes = plt.subplots(len(query), k + 1, figsize=(1.3 * (k + 1), 1.7 * len(query)))
    for r in range(len(query)):
        best = np.argsort(-sim[r])[:k]
        axes[r, 0].imshow(query[r, 0], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title(f"query s{q_lab[r]}", fontsize=7)
        for c, j in enumerate(best, start=1):
            axes[r, c].imshow(gallery[j, 0], cmap="gray", vmin=0, vmax=1)
            ok = "" if g_lab[j] == q_lab[r] else " (wrong)"
            axes[r, c].set_title(f"s{g_lab[j]} {sim[r, j]:.2f}{ok}", fontsize=7,
                                 color="black" if not ok else "red")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _projection_figure(emb: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    plt = _plt()
    c = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    xy = c @ vt[:2].T
    fig, ax = plt.subplots(figsize=(5, 4.5))
    people = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(people) <= 10 else "tab20")
    for n, p in enumerate(people):
        m = labels == p
        ax.scatter(xy[m, 0], xy[m, 1], s=18, color=cmap(n % cmap.N), label=f"s{p}")
    if len(people) <= 12:
        ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    fig.tight_layout()
    _save(fig, path)


def save_figures_identify(model: Any, stats: dict, train_x: np.ndarray, train_p: np.ndarray,
                          test_x: np.ndarray, test_p: np.ndarray, out: Path) -> list[str]:
    """filters.png, saliency.png, neighbours.png, embedding_2d.png in ``out``."""
    from ..explain.visualize import show_filters

    plt = _plt()
    names = []
    first = next(m for m in model.modules() if type(m).__name__ == "Conv2d")
    fig = show_filters(first, title="first-layer 3x3 filters of the face CNN")
    _save(fig, out / "filters.png")
    pick = np.arange(0, len(test_x), max(len(test_x) // 6, 1))[:6]
    sal = saliency(model, test_x[pick], stats)
    fig, axes = plt.subplots(2, len(pick), figsize=(1.4 * len(pick), 3.6))
    for c, i in enumerate(pick):
        axes[0, c].imshow(test_x[i, 0], cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(f"s{test_p[i]}", fontsize=7)
        axes[1, c].imshow(sal[c], cmap="hot")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("saliency: |d score / d pixel| of the predicted person", fontsize=9)
    fig.tight_layout()
    _save(fig, out / "saliency.png")
    e_train, e_test = embed(model, train_x, stats), embed(model, test_x, stats)
    _neighbours_figure(test_x[pick[:4]], train_x, e_test[pick[:4]], e_train, test_p[pick[:4]],
                       train_p, out / "neighbours.png")
    few = np.isin(test_p, np.unique(test_p)[:10])
    _projection_figure(e_test[few], test_p[few], out / "embedding_2d.png",
                       "pooled CNN features of test photos (10 people), PCA to 2-D")
    names += ["filters.png", "saliency.png", "neighbours.png", "embedding_2d.png"]
    return names


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float, eer: float, path: Path) -> None:
    """The ROC curve as a PNG, its AUC and equal error rate in the legend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, lw=1.5, label=f"AUC {auc:.4f}, EER {100 * eer:.2f}%")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false accept rate (different people accepted)")
    ax.set_ylabel("true accept rate (same person accepted)")
    ax.set_title("verification ROC on people never seen in training", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def save_figures_verify(model: Any, stats: dict, fpr: np.ndarray, tpr: np.ndarray, auc: float,
                        eer: float, test_x: np.ndarray, test_p: np.ndarray,
                        train_x: np.ndarray, train_p: np.ndarray, out: Path) -> list[str]:
    """roc.png, embedding_2d.png, neighbours.png, filters.png in ``out``."""
    from ..explain.visualize import show_filters

    roc_figure(fpr, tpr, auc, eer, out / "roc.png")
    e_test = embed(model, test_x, stats)
    _projection_figure(e_test, test_p, out / "embedding_2d.png",
                       "unseen people's photos (pooled trunk features), PCA to 2-D")
    # for a few photos of unseen people: their nearest other photos among the unseen people
    pick = np.arange(0, len(test_x), max(len(test_x) // 4, 1))[:4]
    rest = np.setdiff1d(np.arange(len(test_x)), pick)
    _neighbours_figure(test_x[pick], test_x[rest], e_test[pick], e_test[rest], test_p[pick],
                       test_p[rest], out / "neighbours.png",
                       title="unseen people: nearest of their other photos (cosine similarity)")
    first = next(m for m in model.modules() if type(m).__name__ == "Conv2d")
    _save(show_filters(first, title="first-layer 3x3 filters of the face embedder"),
          out / "filters.png")
    return ["roc.png", "embedding_2d.png", "neighbours.png", "filters.png"]


# --------------------------------------------------------------------------------------------
# recipes behind the commands


def _logger(every: int, quiet: bool) -> Any:
    start = time.time()

    def log(epoch: int, loss: float) -> None:
        if not quiet and (epoch + 1) % every == 0:
            print(f"epoch {epoch + 1}: loss {loss:.4f} ({time.time() - start:.0f} s)", flush=True)
    return log


def run_identify(data: str | os.PathLike, *, train_per_person: int = 5, epochs: int = 80,
                 seed: int = 0, channels: tuple = (32, 64, 128, 256),
                 out: str | os.PathLike | None = None, figures: bool = True,
                 quiet: bool = True) -> dict[str, Any]:
    """The identification protocol: photos 1..``train_per_person`` of each person to train,
    photos 6-10 to test; the CNN's test accuracy and eigenfaces' on the same split."""
    if not 1 <= train_per_person <= 5:
        raise CommandError(f"--train-per-person must be 1..5 (photos 6-10 are the test set), "
                           f"got {train_per_person}")
    x, person, photo = load_faces(data)
    tr, te = photo <= train_per_person, photo >= 6
    people = np.unique(person)
    y = np.searchsorted(people, person)
    start = time.time()
    model, stats = train_identifier(x[tr], y[tr], epochs=epochs, seed=seed, channels=channels,
                                    log=_logger(10, quiet))
    seconds = time.time() - start
    pred = identify(model, x[te], stats).argmax(axis=1)
    acc = float((pred == y[te]).mean())
    eig = float((eigenfaces(x[tr], y[tr], x[te]) == y[te]).mean())
    result = {"task": "identify", "people": len(people), "train_per_person": train_per_person,
              "train_photos": int(tr.sum()), "test_photos": int(te.sum()),
              "test_accuracy": acc, "eigenfaces_accuracy": eig, "epochs": epochs, "seed": seed,
              "train_seconds": round(seconds, 1)}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_model(out / CHECKPOINT, model, config={"model": "face-cnn", **model.config},
                   preprocess=stats, classes=[f"s{p}" for p in people], task="identify")
        if figures:
            result["figures"] = save_figures_identify(model, stats, x[tr], person[tr], x[te],
                                                      person[te], out)
        with atomic_write(out / "metrics.json") as f:
            json.dump(result, f, indent=2)
    return result


def run_verify(data: str | os.PathLike, *, train_people: int = 24, epochs: int = 30,
               loss: str = "arcface", seed: int = 0, channels: tuple = (32, 64, 128, 256),
               out: str | os.PathLike | None = None, figures: bool = True,
               quiet: bool = True) -> dict[str, Any]:
    """The verification protocol: the embedding is trained on the first ``train_people``
    people (all 10 photos), and tested on every pair of photos of the others."""
    x, person, _ = load_faces(data)
    people = np.unique(person)
    if not 2 <= train_people < len(people) - 1:
        raise CommandError(f"--train-people must leave at least 2 of the {len(people)} people "
                           f"for testing, got {train_people}")
    tr = np.isin(person, people[:train_people])
    start = time.time()
    model, stats = train_embedder(x[tr], person[tr], loss=loss, epochs=epochs, seed=seed,
                                  channels=channels, log=_logger(10, quiet))
    seconds = time.time() - start
    e_tr, e_te = embed(model, x[tr], stats), embed(model, x[~tr], stats)
    s_tr, same_tr = verification_scores(e_tr, person[tr])
    _, threshold = equal_error_rate(s_tr, same_tr)  # chosen on the training people only
    scores, same = verification_scores(e_te, person[~tr])
    fpr, tpr, _ = roc_curve(scores, same)
    auc = roc_auc(scores, same)
    eer, _ = equal_error_rate(scores, same)
    accept = scores >= threshold
    # the projection the loss was trained on, for comparison (the trunk's features are used)
    s_out, _ = verification_scores(embed(model, x[~tr], stats, layer="output"), person[~tr])
    result = {"task": "verify", "train_people": int(train_people),
              "test_people": int(len(people) - train_people), "genuine_pairs": int(same.sum()),
              "impostor_pairs": int((~same).sum()), "roc_auc": auc, "eer": eer,
              "roc_auc_projection": roc_auc(s_out, same),
              "eer_projection": equal_error_rate(s_out, same)[0], "threshold": threshold,
              "false_accept_rate_at_threshold": float(accept[~same].mean()),
              "false_reject_rate_at_threshold": float((~accept[same]).mean()),
              "loss": loss, "epochs": epochs, "seed": seed, "train_seconds": round(seconds, 1)}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_model(out / CHECKPOINT, model, config={"model": "face-embedder", **model.config},
                   preprocess=stats, threshold=threshold, task="verify",
                   embedding="features")
        if figures:
            result["figures"] = save_figures_verify(model, stats, fpr, tpr, auc, eer, x[~tr],
                                                    person[~tr], x[tr], person[tr], out)
        with atomic_write(out / "metrics.json") as f:
            json.dump(result, f, indent=2)
    return result


# --------------------------------------------------------------------------------------------
# commands


def _read_photos(paths: list[str], resize: bool) -> np.ndarray:
    return np.stack([read_grey(p, size=PHOTO_SIZE, resize=resize) for p in paths])[:, None]


def _load(checkpoint: str, expected: tuple[str, ...], needs: tuple[str, ...] = (),
          writer: str = WRITER) -> tuple:
    return models.load(checkpoint, expected=expected, needs=("preprocess", *needs),
                       writer=writer)


def _layer(ckpt: dict) -> str:
    """The layer a checkpoint's threshold was set on: ``embedding`` ("features"); verify
    checkpoints written before it was recorded compared the projection ("output")."""
    if "embedding" in ckpt:
        return str(ckpt["embedding"])
    return "output" if ckpt["config"]["model"] == "face-embedder" else "features"


def _channels(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(c) for c in text.split(","))
    except ValueError:
        channels = ()
    if not channels or min(channels) < 1:
        raise CommandError(f"--channels must be comma-separated positive widths such as "
                           f"32,64,128,256, got {text!r}")
    return channels


def cmd_train(args: argparse.Namespace) -> int:
    quiet, channels = False, _channels(args.channels)
    if args.task == "identify":
        r = run_identify(args.data, train_per_person=args.train_per_person,
                         epochs=args.epochs or 80,
                         seed=args.seed, channels=channels, out=args.out,
                         figures=not args.no_figures, quiet=quiet)
        print(f"identification, {r['people']} people, {r['train_per_person']} photos each to "
              f"train: test accuracy {100 * r['test_accuracy']:.2f}% (eigenfaces "
              f"{100 * r['eigenfaces_accuracy']:.2f}%), {r['train_seconds']:.0f} s")
    else:
        r = run_verify(args.data, train_people=args.train_people, loss=args.loss,
                       epochs=args.epochs or 30, seed=args.seed, channels=channels, out=args.out,
                       figures=not args.no_figures, quiet=quiet)
        print(f"verification on {r['test_people']} unseen people ({r['genuine_pairs']} same / "
              f"{r['impostor_pairs']} different pairs): ROC AUC {r['roc_auc']:.4f}, EER "
              f"{100 * r['eer']:.2f}%, {r['train_seconds']:.0f} s")
    print(f"wrote {Path(args.out) / CHECKPOINT} and metrics.json")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    model, ckpt = _load(args.checkpoint, ("face-embedder", "face-cnn"))
    x = _read_photos(args.images, args.resize)
    emb = embed(model, x, ckpt["preprocess"], layer=_layer(ckpt)).astype(np.float32)
    out = Path(args.out)
    if out.suffix != ".npy":
        raise CommandError(f"--out must name a .npy file, got '{out}'")
    with atomic_write(out, "wb", encoding=None) as f:
        np.save(f, emb)
    print(f"wrote {out}: {emb.shape[0]} L2-normalised rows of {emb.shape[1]} (one per image, in "
          "order)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    model, ckpt = _load(args.checkpoint, ("face-embedder",), needs=("threshold",),
                        writer=f"{WRITER} --task verify")
    e = embed(model, _read_photos([args.image_a, args.image_b], args.resize), ckpt["preprocess"],
              layer=_layer(ckpt))
    sim, thr = float(e[0] @ e[1]), float(ckpt["threshold"])
    print(f"similarity {sim:.4f}: {'same person' if sim >= thr else 'different people'} "
          f"(threshold {thr:.4f})")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train faces``, ``deepwise embed``, ``deepwise verify``."""
    p = train_parsers(subparsers).add_parser(
        "faces", help="face identification (CNN) or verification (embedding) on the ORL faces",
        description="Train a face CNN on the ORL (AT&T) photos. --task identify: photos "
        "1..N of each person to train, 6-10 to test (and eigenfaces on the same split); "
        "--task verify: an embedding trained with a metric loss (ArcFace by default, or "
        "batch-hard triplets) on some people, tested on every pair of photos of the others "
        "(ROC AUC, equal error rate).")
    p.add_argument("--data", required=True, help="the ORL zip (orl_faces.zip / att_faces.zip) "
                   "or its unpacked directory (s1/1.pgm ...)")
    p.add_argument("--task", choices=("identify", "verify"), default="identify")
    p.add_argument("--out", required=True, help="directory for faces.safetensors, metrics.json "
                   "and the figures")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: 80 to identify, 30 to verify)")
    p.add_argument("--loss", choices=("arcface", "batch-hard"), default="arcface",
                   help="verify: the metric loss (ArcFace angular margin, or the batch-hard "
                   "triplet loss on P people x K photos batches)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-per-person", type=int, default=5,
                   help="identify: photos per person to train on (1..5; default 5)")
    p.add_argument("--train-people", type=int, default=24,
                   help="verify: people to train on (the rest are the unseen test people)")
    p.add_argument("--channels", default="32,64,128,256",
                   help="widths of the conv blocks, one 2x2 max pool after each")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    register(p, cmd_train)

    p = subparsers.add_parser(
        "embed", help="L2-normalised face embeddings of images, to a .npy file",
        description="One L2-normalised row per image, in order, from a faces checkpoint "
        "(verify: the embedding; identify: the CNN's pooled features).")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, help="the .npy file to write")
    p.add_argument("--resize", action="store_true",
                   help="resize images of another size to 92x112 (default: refuse them)")
    register(p, cmd_embed)

    p = subparsers.add_parser(
        "verify", help="are two face photos the same person?",
        description="Print the cosine similarity of two photos' embeddings and 'same person' "
        "or 'different people' at the checkpoint's threshold (from 'train faces --task "
        "verify').")
    p.add_argument("checkpoint")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--resize", action="store_true",
                   help="resize images of another size to 92x112 (default: refuse them)")
    register(p, cmd_verify)
