"""Ready-made training recipes: the whole path from a dataset to a tested, saved classifier.

``train_classifier`` is what ``deepwise demo`` and ``deepwise train mlp|cnn`` run: hold out a
validation set, train with early stopping (keeping the best weights), evaluate on the test set,
and write the checkpoint and a metrics JSON.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, optim
from .. import distributed as dist
from ..data import DataLoader, Subset
from ..data.distributed import DistributedSampler
from ..io import atomic_write, save_checkpoint
from ..nn.parallel import DistributedDataParallel
from .callbacks import EarlyStopping, ModelCheckpoint
from .fit import evaluate, fit

__all__ = ["train_classifier", "make_optimizer", "AugmentedLoader", "ShardedLoader"]

OPTIMIZERS = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD,
              "rmsprop": optim.RMSprop}


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float = 0.0) -> Any:
    """An optimizer by name (adam, adamw, sgd with momentum 0.9, rmsprop)."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") \
            from None
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if cls is optim.SGD:
        kwargs["momentum"] = 0.9
    return cls(params, **kwargs)


class AugmentedLoader:
    """A DataLoader whose input batches pass through ``transform`` (e.g. random crop + flip)."""

    def __init__(self, loader: DataLoader, transform: Callable[[Any], Any]) -> None:
        self.loader, self.transform = loader, transform

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for x, y in self.loader:
            yield self.transform(x), y


class ShardedLoader:
    """This rank's batches of ``dataset``: a :class:`DistributedSampler`'s shard, drawn anew
    each epoch (``set_epoch`` 0, 1, ... on each pass); every rank has the same number."""

    def __init__(self, dataset: Any, batch_size: int, sampler: DistributedSampler) -> None:
        self.dataset, self.batch_size, self.sampler = dataset, int(batch_size), sampler
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        yield from DataLoader(Subset(self.dataset, self.sampler.indices()), self.batch_size)


def _split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[val_size:], order[:val_size]


def train_classifier(model: Any, train_set: Any, test_set: Any, *, epochs: int = 20,
                     batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam",
                     weight_decay: float = 0.0, patience: int | None = 5,
                     val_size: int | float = 0.1, augment: Callable[[Any], Any] | None = None,
                     schedule: str | None = None,
                     out: str | os.PathLike | None = None, config: dict | None = None,
                     seed: int = 0, verbose: bool = True,
                     distributed: bool = False) -> dict[str, Any]:
    """Train ``model`` on ``train_set``, pick the best epoch on a held-out validation split,
    and report the test metrics.

    Args:
        train_set, test_set: datasets of (image, label) samples.
        val_size: held-out validation samples (an int, or a fraction of ``train_set``), drawn
            with ``seed``; early stopping watches their loss.
        patience: epochs without validation improvement before stopping (None: never stop);
            the best epoch's weights are restored at the end.
        augment: a batch transform applied to training inputs only.
        schedule: None (constant lr), "cosine" (cosine annealing to 0 over ``epochs``) or
            "plateau" (lr / 5 when the validation loss stalls for 2 epochs).
        out: a directory for ``model.safetensors`` (checkpoint with ``config``) and
            ``metrics.json``.
        distributed: data-parallel over the ranks of ``deepwise.distributed`` (initialised
            by the caller): each rank trains a ``DistributedDataParallel`` copy on its shard
            with ``batch_size`` samples per step (N ranks: N * batch_size in all); BatchNorm
            statistics stay per rank (rank 0's running statistics are kept); only rank 0
            prints and writes ``out`` (no ``best.safetensors``: the best epoch's weights are
            restored and saved as ``model.safetensors``).

    Returns a dict with test_loss, test_accuracy, best_epoch, epochs_run, seconds,
    seconds_per_epoch and the history.
    """
    backend.manual_seed(seed)
    n = len(train_set)
    nval = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    tr_idx, va_idx = _split(n, nval, seed)
    train_loader: Any = DataLoader(Subset(train_set, tr_idx), batch_size=batch_size,
                                   shuffle=True)
    fit_model, rank = model, 0
    if distributed:
        if not dist.is_initialized():
            raise RuntimeError("train_classifier(distributed=True): call "
                               "deepwise.distributed.init_process_group() first")
        rank, verbose = dist.get_rank(), verbose and dist.get_rank() == 0
        fit_model = DistributedDataParallel(model)
        backend.manual_seed(seed + rank)  # rank 0's weights everywhere; dropout differs per rank
        train_loader = ShardedLoader(Subset(train_set, tr_idx), batch_size,
                                     DistributedSampler(range(len(tr_idx)), seed=seed))
    if augment is not None:
        train_loader = AugmentedLoader(train_loader, augment)
    val_loader = DataLoader(Subset(train_set, va_idx), batch_size=512) if nval else None
    test_loader = DataLoader(test_set, batch_size=512)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    scheduler = None
    if schedule == "cosine":
        scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    elif schedule == "plateau":
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.2, patience=2)
    elif schedule is not None:
        raise ValueError(f"train_classifier: unknown schedule {schedule!r} (cosine, plateau)")
    callbacks: list[Any] = []
    if patience is not None and val_loader is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=patience,
                                       restore_best_weights=True))
    out_dir = Path(out) if out is not None and rank == 0 else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if val_loader is not None and not distributed:
            callbacks.append(ModelCheckpoint(out_dir / "best.safetensors", monitor="val_loss",
                                             save_best_only=True))
    start = time.perf_counter()
    history = fit(fit_model, train_loader, val_data=val_loader, loss="cross_entropy", optimizer=opt,
                  epochs=epochs, scheduler=scheduler, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    test = evaluate(model, test_loader, loss="cross_entropy")
    val_losses = history.history.get("val_loss") or history.history["loss"]
    result = {
        "test_loss": float(test["loss"]), "test_accuracy": float(test["accuracy"]),
        "best_epoch": int(np.argmin(val_losses)) + 1, "epochs_run": len(val_losses),
        "seconds": seconds, "seconds_per_epoch": seconds / max(len(val_losses), 1),
        "train_size": int(len(tr_idx)), "val_size": int(nval), "test_size": len(test_set),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }
    if distributed:
        result["world_size"] = dist.get_world_size()
    if out_dir is not None:
        save_checkpoint(out_dir / "model.safetensors", model, opt, epoch=len(val_losses),
                        history=history, config=config or {})
        with atomic_write(out_dir / "metrics.json") as f:
            json.dump({k: v for k, v in result.items()}, f, indent=2)
    return result

