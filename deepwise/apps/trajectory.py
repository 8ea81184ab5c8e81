"""Pedestrian trajectory forecasting: from 8 observed positions (3.2 s), the next 12 (4.8 s).

The data and protocol are Social GAN's on ETH/UCY (``deepwise.data.datasets.eth_ucy``): 20-frame
windows, leave one scene out. The models are ``deepwise.models.trajectory``: an LSTM
encoder-decoder over displacements (deterministic) and its conditional-VAE variant (diverse
futures, scored best-of-20 as in the literature and by its single most likely future), measured
against constant velocity and a least-squares line in the same table.

This module holds the recipe: augmentation (every window rotated by a random angle and mirrored
with probability 1/2 - people walk the same way in any direction), the loss (the mean Euclidean
distance over the 12 predicted positions, i.e. ADE itself; plus ``beta * KL`` for the CVAE,
or, with ``--variety K``, Social GAN's variety loss: the best of K prior samples per window),
Adam with a cosine schedule and the best validation epoch kept; the fold table; the picture; and
the commands::

    deepwise train trajectory --test-scene zara01 --out runs/traj-zara1
    deepwise train trajectory --test-scene zara01 --model lstm --seeds 2 --out runs/traj-lstm
    deepwise train trajectory --test-scene zara01 --model cvae --variety 20 --cvae-weight 0 \
        --epochs 10 --out runs/traj-variety
    deepwise forecast runs/traj-zara1/cvae.safetensors --scene crowds_zara01.txt --out z.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, models, nn, optim
from ..data.datasets import eth_ucy
from ..io import atomic_path, atomic_write, save_model
from ..models.trajectory import (
    TrajectoryCVAE,
    TrajectoryLSTM,
    constant_velocity,
    linear_fit,
    neighbour_features,
)
from ..ops import arith, reduce, shape
from ..tensor import Tensor, from_numpy
from ..train import trajectory_metrics as tm
from ._commands import CommandError, register, train_parsers

__all__ = ["augment", "displacement_loss", "train_forecaster", "ensemble_predict",
           "evaluate_models",
           "format_table", "load_forecaster", "plot_forecast", "add_commands"]

MODEL_NAMES = {"lstm": "trajectory-lstm", "cvae": "trajectory-cvae"}
LABELS = {"eth": "ETH", "univ": "UNIV", "zara1": "ZARA1", "zara2": "ZARA2"}


# --------------------------------------------------------------------------------------------
# recipe


def augment(observed: np.ndarray, future: np.ndarray, rng: np.random.Generator,
            *vectors: np.ndarray, mirror: bool = True) -> tuple[np.ndarray, ...]:
    """Each window (observed and future together, and any ``vectors (B, ..., 2k)`` of the
    same windows, e.g. neighbour features) rotated by a random angle about the origin and,
    with ``mirror``, mirrored (y -> -y) with probability 1/2. Shapes kept."""
    b = observed.shape[0]
    theta = rng.uniform(0.0, 2.0 * math.pi, b)
    cos, sin = np.cos(theta), np.sin(theta)
    flip = np.where(rng.random(b) < 0.5, -1.0, 1.0) if mirror else np.ones(b)
    rot = np.stack([np.stack([cos, -sin * flip], -1), np.stack([sin, cos * flip], -1)], -2)
    rot = rot.astype(observed.dtype)  # (B, 2, 2): rotation after the optional mirror
    rt = rot.transpose(0, 2, 1)
    turned = [(v.reshape(b, -1, 2) @ rt).reshape(v.shape) for v in vectors]
    return (observed @ rt, future @ rt, *turned)


def displacement_loss(pred_rel: Tensor, true_rel: Tensor, weight: Any = None) -> Tensor:
    """The mean Euclidean distance between the positions two displacement sequences reach
    (``(B, T, 2)`` each; ADE in the displacements' unit), each window's distances times its
    ``weight (B,)`` if given (its unit in metres: the loss is then ADE in metres)."""
    diff = reduce.cumsum(pred_rel - true_rel, 1)
    dist = arith.sqrt(reduce.sum(diff * diff, -1) + 1e-6)  # (B, T)
    if weight is not None:
        dist = dist * from_numpy(np.asarray(weight, dtype=dist.dtype)[:, None])
    return reduce.mean(dist)


def variety_loss(samples_rel: Tensor, true_rel: Tensor, groups: np.ndarray,
                 weight: Any = None) -> Tensor:
    """Social GAN's variety loss: of ``K`` sampled futures per window, only the best counts.

    ``samples_rel (K, B, T, 2)`` are K draws of the displacements of B pedestrians (one draw
    ``k`` is one future of a whole window: its pedestrians share the latent), ``true_rel
    (B, T, 2)`` the truth, ``groups (B,)`` which window each pedestrian belongs to and
    ``weight (B,)`` metres per unit, as in :func:`displacement_loss`. Each window's summed ADE is
    taken at its best draw (the minimum over K, whose gradient reaches that draw alone), and
    the sum over windows is divided by B: ADE per pedestrian, scored the way best-of-K is
    evaluated (``deepwise.train.trajectory_metrics.best_of_k`` with groups)."""
    diff = reduce.cumsum(samples_rel - shape.unsqueeze(true_rel, 0), 2)
    ade = reduce.mean(arith.sqrt(reduce.sum(diff * diff, -1) + 1e-6), -1)  # (K, B)
    if weight is not None:
        ade = ade * from_numpy(np.asarray(weight, dtype=ade.dtype)[None, :])
    per_window = ade @ from_numpy(tm.window_matrix(np.asarray(groups), ade.dtype))  # (K, G)
    return reduce.sum(reduce.amin(per_window, 0)) / float(true_rel.shape[0])


def window_batches(groups: np.ndarray, batch_size: int, rng: np.random.Generator
                   ) -> list[np.ndarray]:
    """The indices of all pedestrians in batches of whole windows (the pedestrians sharing a
    ``groups`` id stay together), the windows in random order, each batch closed at the first
    window end that reaches ``batch_size`` pedestrians (a window larger than that is a batch
    of its own)."""
    groups = np.asarray(groups)
    _, inv = np.unique(groups, return_inverse=True)
    inv = inv.reshape(-1)
    rank = np.empty(int(inv.max()) + 1 if inv.size else 0, np.int64)
    rank[rng.permutation(rank.size)] = np.arange(rank.size)
    order = np.argsort(rank[inv], kind="stable")
    ends = np.flatnonzero(np.diff(rank[inv][order])) + 1  # where a window ends in ``order``
    ends = np.append(ends, order.size)
    batches, start = [], 0
    for end in ends:
        if end - start >= batch_size or end == order.size:
            batches.append(order[start:end])
            start = end
    return batches


def _variety_step(model: TrajectoryCVAE, x: Tensor, y: Tensor, nb: Any, unit: np.ndarray,
                  groups: np.ndarray, k: int, rng: np.random.Generator, cvae_weight: float,
                  beta: float) -> tuple[Tensor, float]:
    """One batch's loss with the variety term, and its mean KL (0 without the CVAE term): the
    past encoded once, ``k`` prior latents per window decoded in one batch of ``k * B`` rows,
    plus (``cvae_weight`` > 0) the CVAE term."""
    b = x.shape[0]
    h, c = model.encode(x, nb)
    _, local = np.unique(groups, return_inverse=True)
    z = rng.standard_normal((k, int(local.max()) + 1, model.latent_size))[:, local.reshape(-1)]
    draws = model.decode_latent(shape.repeat(x, k, 1, 1), shape.repeat(h, k, 1),
                                shape.repeat(c, k, 1),
                                from_numpy(z.reshape(k * b, -1).astype(x.dtype)))
    loss = variety_loss(shape.reshape(draws, k, b, model.pred_len, 2), y, groups, unit)
    if cvae_weight <= 0:
        return loss, 0.0
    zq, kl = model.posterior_sample(h, y)
    kl_mean = reduce.mean(kl)
    recon = displacement_loss(model.decode_latent(x, h, c, zq), y, unit)
    return loss + cvae_weight * (recon + beta * kl_mean), float(kl_mean.data)


def _validation_ade(model: TrajectoryLSTM, data: eth_ucy.TrajectoryWindows, k: int) -> float:
    """The figure early stopping watches: ADE of ``predict`` (deterministic), or best-of-k
    (per window, Social GAN's way) for a stochastic model."""
    if isinstance(model, TrajectoryCVAE) and k > 0:
        samples = model.sample(data.observed, k=k, groups=data.windows.group,
                               generator=np.random.default_rng(0))
        return tm.best_of_k(samples, data.future, data.windows.group)[0]
    return tm.ade(model.predict(data.observed, data.windows.group), data.future)


def train_forecaster(model: TrajectoryLSTM, train: eth_ucy.TrajectoryWindows,
                     val: eth_ucy.TrajectoryWindows | None = None, *, epochs: int = 30,
                     batch_size: int = 64, lr: float = 2e-3, beta: float = 0.03,
                     clip: float = 1.0, val_k: int = 20, time_limit: float | None = None,
                     features: np.ndarray | None = None, mirror: bool = True,
                     variety: int = 0, cvae_weight: float = 1.0,
                     seed: int = 0, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train ``model`` on ``train`` (augmented each epoch), Adam + cosine lr over ``epochs``;
    after each epoch measure ``val`` ADE (best-of-``val_k`` for a CVAE) and keep the best
    epoch's weights (without ``val``: the last epoch's). ``time_limit`` (seconds) stops early,
    after the epoch that passes it (the cosine schedule is then cut short: say so when
    reporting). ``features (N, obs_len, F)``: per-position features of the training windows
    for an LSTM built with ``features=F``. ``mirror=False``: windows are only rotated, never
    mirrored (a mirror swaps left and right turns, which unmirrored features could tell
    apart). ``variety=K`` (a CVAE only): batches hold whole windows, and the loss adds Social
    GAN's variety term (:func:`variety_loss`: the best of K futures drawn from the prior, one
    latent per window); ``cvae_weight`` scales the CVAE's own term (reconstruction through the
    posterior + ``beta`` KL), 0 to train by the variety term alone. Returns the history."""
    if len(train) == 0:
        raise ValueError("train_forecaster: the training set has no windows")
    if (features is None) != (model.features == 0):
        raise ValueError(f"train_forecaster: the model takes {model.features} features per "
                         f"position, got {'none' if features is None else features.shape}")
    if features is not None and features.shape[:2] != train.observed.shape[:2]:
        raise ValueError(f"train_forecaster: features {features.shape} do not match the "
                         f"windows {train.observed.shape}")
    cvae = isinstance(model, TrajectoryCVAE)
    if variety and not cvae:
        raise ValueError(f"train_forecaster: variety={variety} needs a stochastic model "
                         f"(TrajectoryCVAE), got {type(model).__name__}")
    if variety < 0 or (variety and cvae_weight < 0):
        raise ValueError(f"train_forecaster: need variety >= 0 and cvae_weight >= 0, got "
                         f"{variety}, {cvae_weight}")
    rng = np.random.default_rng(seed)
    backend.manual_seed(seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    if variety:  # whole windows per batch; every epoch's batches drawn up front (their count)
        plans = [window_batches(train.windows.group, batch_size, rng) for _ in range(epochs)]
        steps = sum(len(p) for p in plans)
    else:
        steps = epochs * math.ceil(len(train) / batch_size)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.02)
    history: dict[str, Any] = {"loss": [], "kl": [], "val_ade": [], "seconds": []}
    best, best_state = math.inf, None
    if model.social:
        feats, mask = neighbour_features(train.observed, train.windows.group, model.neighbours)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        if variety:
            batches = plans[epoch]
        else:
            order = rng.permutation(len(train))
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        total = total_kl = 0.0
        for idx in batches:
            nb = None
            if model.social:
                obs, fut, f = augment(*train[idx], rng, feats[idx], mirror=mirror)
            else:
                obs, fut = augment(*train[idx], rng, mirror=mirror)
            rel, fut_rel, rot = model.normalise(obs, fut)
            if model.social:
                nb = model.local_neighbours(f, mask[idx], rot)
            x, y = from_numpy(rel), from_numpy(fut_rel)
            per_position = None if features is None else from_numpy(features[idx])
            unit = 1.0 / np.sqrt(np.abs(np.linalg.det(rot)))  # metres per model unit
            if cvae and variety:
                loss, kl_mean = _variety_step(model, x, y, nb, unit, train.windows.group[idx],
                                              variety, rng, cvae_weight, beta)
                total_kl += kl_mean * len(rel)
            elif cvae:
                pred, kl = model(x, y, neighbours=nb)
                kl_mean = reduce.mean(kl)
                loss = displacement_loss(pred, y, unit) + beta * kl_mean
                total_kl += float(kl_mean.data) * len(rel)
            else:
                loss = displacement_loss(model(x, nb, features=per_position), y, unit)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
            total += float(loss.data) * len(rel)
        history["loss"].append(total / len(train))
        history["kl"].append(total_kl / len(train))
        score = _validation_ade(model, val, val_k) if val is not None and len(val) else math.nan
        history["val_ade"].append(score)
        history["seconds"].append(time.perf_counter() - start)
        if val is None or score < best:
            best = score
            best_state = {k: v.copy() for k, v in model.state_dict().items()}
        if log:
            log(f"epoch {epoch + 1}/{epochs}  loss {history['loss'][-1]:.4f}"
                + (f"  kl {history['kl'][-1]:.3f}" if cvae else "")
                + (f"  val ADE {score:.3f} m" if val is not None else "")
                + f"  ({history['seconds'][-1]:.0f} s)")
        if time_limit is not None and history["seconds"][-1] > time_limit:
            if log:
                log(f"time limit {time_limit:.0f} s reached after epoch {epoch + 1}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_val_ade"] = best
    history["epochs_run"] = len(history["loss"])
    model.eval()
    return history


def ensemble_predict(forecasters: Sequence[TrajectoryLSTM], observed: np.ndarray,
                     groups: np.ndarray | None = None) -> np.ndarray:
    """The mean of several forecasters' predicted positions (e.g. one recipe trained with
    different seeds). Shape: observed (N, obs_len, 2) -> (N, pred_len, 2)."""
    if not forecasters:
        raise ValueError("ensemble_predict: no forecasters given")
    return np.mean([m.predict(observed, groups) for m in forecasters], 0)


def evaluate_models(data: eth_ucy.TrajectoryWindows, lstm: TrajectoryLSTM | None = None,
                    cvae: TrajectoryCVAE | None = None, k: int = 20, seed: int = 0,
                    ensemble: Sequence[TrajectoryLSTM] = ()
                    ) -> dict[str, tuple[float, float]]:
    """``{row: (ADE, FDE)}`` on ``data``: constant velocity, linear fit, the deterministic LSTM,
    the mean of the ``ensemble``'s forecasts (when it holds more than one), the CVAE
    best-of-``k`` (one sample per window, Social GAN's way; and per pedestrian) and the CVAE's
    most likely future. Rows of absent models are left out."""
    obs, fut = data.observed.astype(np.float64), data.future.astype(np.float64)
    pred_len = fut.shape[1]
    rows = {"constant velocity": constant_velocity(obs, pred_len),
            "linear fit": linear_fit(obs, pred_len)}
    out = {name: (tm.ade(p, fut), tm.fde(p, fut)) for name, p in rows.items()}
    groups = data.windows.group
    if lstm is not None:
        p = lstm.predict(obs, groups)
        out["LSTM"] = (tm.ade(p, fut), tm.fde(p, fut))
    if len(ensemble) > 1:
        p = ensemble_predict(ensemble, obs, groups)
        out[f"LSTM, mean of {len(ensemble)} seeds"] = (tm.ade(p, fut), tm.fde(p, fut))
    if cvae is not None:
        samples = cvae.sample(obs, k=k, groups=groups, generator=np.random.default_rng(seed))
        out[f"CVAE best-of-{k}"] = tm.best_of_k(samples, fut, groups)
        out[f"CVAE best-of-{k} per pedestrian"] = tm.best_of_k(samples, fut)
        p = cvae.predict(obs, groups)
        out["CVAE most likely"] = (tm.ade(p, fut), tm.fde(p, fut))
    return out


def format_table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    """A markdown table: one row per method, one ADE/FDE column per scene."""
    scenes = list(results)
    methods = list(dict.fromkeys(m for r in results.values() for m in r))
    lines = ["| method | " + " | ".join(f"{s} ADE/FDE" for s in scenes) + " |",
             "|---|" + "---|" * len(scenes)]
    for m in methods:
        cells = [f"{results[s][m][0]:.2f}/{results[s][m][1]:.2f}" if m in results[s] else "-"
                 for s in scenes]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_forecaster(path: str | os.PathLike) -> tuple[TrajectoryLSTM, dict]:
    """``(model, checkpoint)`` of a checkpoint written by ``deepwise train trajectory``."""
    return models.load(path, expected=tuple(MODEL_NAMES.values()),
                       writer="deepwise train trajectory")


# --------------------------------------------------------------------------------------------
# picture


def _latest_tracks(rows: np.ndarray, obs_len: int) -> tuple[np.ndarray, list[int]]:
    """The last ``obs_len`` positions of every track that ends at the file's last frame and is
    at least that long (what a tracker hands the forecaster): ``(N, obs_len, 2)``, their ids."""
    tracks = [t for t in eth_ucy.split_tracks(rows) if t.frames.size >= obs_len]
    if not tracks:
        return np.zeros((0, obs_len, 2)), []
    last = max(int(t.frames[-1]) for t in tracks)
    chosen = [t for t in tracks if int(t.frames[-1]) == last]
    return np.stack([t.xy[-obs_len:] for t in chosen]), [t.pedestrian for t in chosen]


def plot_forecast(path: str | os.PathLike, observed: np.ndarray, predicted: np.ndarray,
                  true: np.ndarray | None = None, samples: np.ndarray | None = None,
                  curves: dict[str, np.ndarray] | None = None, title: str = "") -> None:
    """A PNG: the observed paths (black), true futures (green, dashed), predicted futures (red)
    and sampled futures (thin orange); beside it, the mean error at each predicted step per
    method (``curves``), when given. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 2 if curves else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.5 * ncols, 6), squeeze=False)
    ax = axes[0, 0]
    for i in range(observed.shape[0]):
        if samples is not None:
            for s in samples[:, i]:
                ax.plot(np.r_[observed[i, -1, 0], s[:, 0]], np.r_[observed[i, -1, 1], s[:, 1]],
                        color="orange", lw=0.6, alpha=0.45)
        ax.plot(observed[i, :, 0], observed[i, :, 1], "k.-", lw=1.5, ms=4,
                label="observed" if i == 0 else None)
        if true is not None:
            ax.plot(np.r_[observed[i, -1, 0], true[i, :, 0]],
                    np.r_[observed[i, -1, 1], true[i, :, 1]], "g--", lw=1.5,
                    label="true future" if i == 0 else None)
        ax.plot(np.r_[observed[i, -1, 0], predicted[i, :, 0]],
                np.r_[observed[i, -1, 1], predicted[i, :, 1]], "r-", lw=1.8,
                label="predicted" if i == 0 else None)
    if samples is not None:
        ax.plot([], [], color="orange", lw=0.8, label=f"{samples.shape[0]} samples")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    if curves:
        ax2 = axes[0, 1]
        for name, c in curves.items():
            ax2.plot(np.arange(1, len(c) + 1) * 0.4, c, marker="o", ms=3, label=name)
        ax2.set_xlabel("time ahead (s)")
        ax2.set_ylabel("mean displacement error (m)")
        ax2.set_title("error at each predicted step")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# commands


def _fold_or_error(scene: str, data: str | None) -> dict[str, eth_ucy.TrajectoryWindows]:
    try:
        key = eth_ucy.scene_name(scene)
    except ValueError as e:
        raise CommandError(str(e)) from None
    try:
        return eth_ucy.load_fold(key, root=data)
    except eth_ucy.DatasetNotFoundError as e:
        raise CommandError(f"{e}; or pass --data DIR") from None


def cmd_train(args: argparse.Namespace) -> int:
    key = eth_ucy.scene_name(args.test_scene)
    fold = _fold_or_error(key, args.data)
    os.makedirs(args.out, exist_ok=True)
    print(f"fold {LABELS[key]}: {len(fold['train'])} train, {len(fold['val'])} val, "
          f"{len(fold['test'])} test windows")
    if args.seeds < 1:
        raise CommandError(f"--seeds {args.seeds}: need at least 1")
    if args.variety and args.model == "lstm":
        raise CommandError(f"--variety {args.variety} trains the stochastic model: use it with "
                           "--model cvae or both (the LSTM has one future per past)")
    kinds = ["lstm", "cvae"] if args.model == "both" else [args.model]
    runs = [(kind, args.seed + i) for kind in kinds
            for i in range(args.seeds if kind == "lstm" else 1)]
    trained: dict[str, TrajectoryLSTM] = {}
    ensemble: list[TrajectoryLSTM] = []
    histories = {}
    for kind, seed in runs:
        name = kind if seed == args.seed else f"{kind}-seed{seed}"
        backend.manual_seed(seed)
        common = {"embed_size": args.embed_size, "hidden_size": args.hidden_size,
                  "social": not args.no_social}
        model = (TrajectoryCVAE(latent_size=args.latent_size, **common) if kind == "cvae"
                 else TrajectoryLSTM(**common))
        print(f"training {name}: {sum(p.data.size for p in model.parameters())} parameters")
        histories[name] = train_forecaster(
            model, fold["train"], fold["val"], epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, beta=args.beta, seed=seed,
            variety=args.variety if kind == "cvae" else 0, cvae_weight=args.cvae_weight,
            time_limit=None if args.time_limit is None else 60.0 * args.time_limit)
        save_model(os.path.join(args.out, f"{name}.safetensors"), model,
                   config={"model": MODEL_NAMES[kind], **model.config},
                   test_scene=key, best_val_ade=float(histories[name]["best_val_ade"]))
        trained.setdefault(kind, model)
        if kind == "lstm":
            ensemble.append(model)
    results = evaluate_models(fold["test"], trained.get("lstm"),
                              trained.get("cvae"), ensemble=ensemble)  # type: ignore[arg-type]
    table = format_table({LABELS[key]: results})
    print(f"\ntest scene {LABELS[key]} ({len(fold['test'])} windows), ADE/FDE in metres:")
    print(table)
    with atomic_write(os.path.join(args.out, "results.json")) as f:
        json.dump({"test_scene": key, "results": results, "history": histories,
                   "args": {k: v for k, v in vars(args).items() if k != "func"}}, f, indent=1,
                  default=float)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    model, _ = load_forecaster(args.checkpoint)
    rows = eth_ucy.read_trajectories(args.scene)
    k = args.samples if isinstance(model, TrajectoryCVAE) else 0
    windows = eth_ucy.TrajectoryWindows(eth_ucy.make_windows(
        rows, model.obs_len, model.pred_len, min_peds=1, name=os.path.basename(args.scene)))
    rng = np.random.default_rng(args.seed)
    if len(windows):  # enough frames: score every 20-frame window, draw the busiest
        obs, fut = windows.observed.astype(np.float64), windows.future.astype(np.float64)
        group = windows.windows.group
        pred, cv = model.predict(obs, group), constant_velocity(obs, model.pred_len)
        name = "most likely" if k else "model"
        print(f"{args.scene}: {len(windows)} windows of {model.obs_len}+{model.pred_len} frames")
        print(f"  {name:<18} ADE {tm.ade(pred, fut):.3f} m  FDE {tm.fde(pred, fut):.3f} m")
        print(f"  constant velocity  ADE {tm.ade(cv, fut):.3f} m  FDE {tm.fde(cv, fut):.3f} m")
        curves = {name: tm.per_step_error(pred, fut), "constant velocity":
                  tm.per_step_error(cv, fut)}
        samples = None
        if k:
            samples = model.sample(obs, k=k, groups=group,  # type: ignore[attr-defined]
                                   generator=rng)
            a, f = tm.best_of_k(samples, fut, group)
            print(f"  best of {k:<2d} samples ADE {a:.3f} m  FDE {f:.3f} m")
            best = tm.displacement_errors(samples, fut[None]).mean(-1).argmin(0)
            curves[f"best of {k} (each pedestrian)"] = tm.per_step_error(
                samples[best, np.arange(len(fut))], fut)
        pick = (int(np.bincount(group).argmax()) if args.window is None else args.window)
        if not 0 <= pick <= int(group.max()):
            raise CommandError(f"--window {pick}: this file has windows 0..{int(group.max())}")
        sel = group == pick
        plot_forecast(args.out, obs[sel], pred[sel], fut[sel],
                      None if samples is None else samples[:, sel], curves,
                      f"{os.path.basename(args.scene)}, frame "
                      f"{int(windows.windows.start[sel][0])}")
    else:  # too short to score: forecast each track's last observed positions
        obs, ids = _latest_tracks(rows, model.obs_len)
        if not len(obs):
            raise CommandError(f"{args.scene}: no pedestrian has {model.obs_len} consecutive "
                               f"frames, so there is nothing to forecast")
        together = np.zeros(len(obs), dtype=np.int64)  # all present in the last frame
        pred = model.predict(obs, together)
        samples = (model.sample(obs, k=k, groups=together, generator=rng)  # type: ignore
                   if k else None)
        print(f"{args.scene}: fewer than {model.obs_len + model.pred_len} frames per track, so "
              f"no ADE/FDE; forecast {len(ids)} pedestrians from their last "
              f"{model.obs_len} positions")
        plot_forecast(args.out, obs, pred, None, samples, None, os.path.basename(args.scene))
    print(f"wrote {args.out}")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train trajectory`` and ``deepwise forecast``."""
    p = train_parsers(subparsers).add_parser(
        "trajectory", help="pedestrian trajectory forecaster on ETH/UCY (leave one scene out)",
        description="Train the LSTM encoder-decoder and/or the CVAE on ETH/UCY with one scene "
                    "held out; print ADE/FDE on it beside constant velocity and a linear fit.")
    p.add_argument("--test-scene", required=True,
                   help="held-out scene: eth, univ, zara1 (zara01), zara2 (zara02)")
    p.add_argument("--data", default=None,
                   help="the ETH/UCY folder (all_data/, train/, val/); default $DEEPWISE_DATA")
    p.add_argument("--out", default="runs/trajectory", help="folder for checkpoints + results")
    p.add_argument("--model", choices=("lstm", "cvae", "both"), default="both")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--time-limit", type=float, default=None, help="minutes per model")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--beta", type=float, default=0.03, help="weight of the CVAE's KL term")
    p.add_argument("--variety", type=int, default=0, metavar="K",
                   help="train the CVAE with Social GAN's variety loss as well: the best of K "
                        "futures drawn from the prior, per window (default 0: off)")
    p.add_argument("--cvae-weight", type=float, default=1.0,
                   help="with --variety, the weight of the CVAE's own loss (0: variety alone)")
    p.add_argument("--embed-size", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--latent-size", type=int, default=16)
    p.add_argument("--no-social", action="store_true",
                   help="forecast each pedestrian alone (no pooling over its neighbours)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1,
                   help="train the LSTM with seeds SEED..SEED+N-1 (lstm-seedS.safetensors) and "
                        "also score the mean of their forecasts")
    register(p, cmd_train)

    f = subparsers.add_parser(
        "forecast", help="forecast the pedestrians of a trajectory file and draw them",
        description="Forecast every pedestrian of an ETH/UCY-format file (frame, pedestrian, "
                    "x, y) with a trained checkpoint; with 20-frame tracks, also print ADE/FDE "
                    "(model and constant velocity) over all its windows.")
    f.add_argument("checkpoint", help="a checkpoint of 'deepwise train trajectory'")
    f.add_argument("--scene", required=True, help="a trajectory file (frame ped x y)")
    f.add_argument("--out", required=True, help="the PNG to write")
    f.add_argument("--window", type=int, default=None,
                   help="which frame's windows to draw (default: the busiest)")
    f.add_argument("--samples", type=int, default=20, help="futures drawn by a CVAE")
    f.add_argument("--seed", type=int, default=0)
    register(f, cmd_forecast)
