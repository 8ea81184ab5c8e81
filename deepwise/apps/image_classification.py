"""Image recognition: a network learns to name what an image shows.

The seed's first application. The data sets are the 8x8 UCI digits shipped inside the package
(``deepwise demo``), MNIST and Fashion-MNIST read from their IDX files; the models are the library's
``MLP`` and ``SmallCNN``; the recipe is ``train.recipes.train_classifier`` (a held-out validation
split, early stopping on its loss, the best weights restored, cosine or plateau learning-rate
schedule); the checkpoint is ``RUN/model.safetensors`` (config + optimizer + weights, rebuilt by
``models.build``) beside ``RUN/metrics.json``.

Commands::

    deepwise demo                                  an MLP on the embedded digits, in seconds
    deepwise train mlp|cnn --data fashion-mnist    train, test, write RUN/model.safetensors
    deepwise evaluate RUN/model.safetensors        the test metrics of a checkpoint
    mpirun -n 2 deepwise train cnn --distributed   the same, data-parallel over 2 processes
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from .. import backend, models
from ._commands import CommandError, register, train_parsers

__all__ = ["DATASETS", "load_data", "add_commands"]

DATASETS = ("fashion-mnist", "mnist", "digits")
SCHEDULES = ("cosine", "plateau", "constant")


def load_data(name: str, data_dir: str | None = None) -> tuple[Any, Any]:
    """The ``(train, test)`` datasets of ``name`` (one of :data:`DATASETS`); MNIST and
    Fashion-MNIST are read from ``data_dir`` or the standard places (see their loaders)."""
    from ..data.datasets import MNIST, Digits, FashionMNIST

    if name == "digits":
        return Digits(train=True), Digits(train=False)
    if name not in DATASETS:
        raise CommandError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    cls = FashionMNIST if name == "fashion-mnist" else MNIST
    return cls(root=data_dir, train=True), cls(root=data_dir, train=False)


def _image_shape(dataset: Any) -> tuple[int, ...]:
    x, _ = dataset[0]
    return tuple(getattr(x, "shape", ()))


def _print_result(result: dict, out: str | None) -> None:
    print(f"test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}  "
          f"(best epoch {result['best_epoch']} of {result['epochs_run']}, "
          f"{result['seconds']:.1f} s, {result['seconds_per_epoch']:.1f} s/epoch)")
    if out:
        print(f"wrote {out}/model.safetensors and {out}/metrics.json")


def cmd_demo(args: argparse.Namespace) -> int:
    """Train an MLP on the 8x8 digits shipped with deepwise and print its test accuracy."""
    from ..train.recipes import train_classifier

    train_set, test_set = load_data("digits")
    config = {"model": "mlp", "in_features": 64, "hidden": [128, 64], "num_classes": 10,
              "dropout": 0.1}
    backend.manual_seed(args.seed)
    model = models.build(config)
    print(f"deepwise demo: an MLP 64-128-64-10 learns the UCI 8x8 digits "
          f"({len(train_set)} training images, {len(test_set)} test images)")
    result = train_classifier(model, train_set, test_set, epochs=args.epochs, batch_size=32,
                              lr=2e-3, patience=10, val_size=0.1, seed=args.seed,
                              verbose=not args.quiet, config=config)
    _print_result(result, None)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``deepwise train mlp|cnn``: train on an image data set, write checkpoint and metrics."""
    if getattr(args, "distributed", False):
        return _train_distributed(args)
    return _train(args)


def _train_distributed(args: argparse.Namespace) -> int:
    """``--distributed`` (under mpirun): every rank runs :func:`_train`; rank 0 prints and
    writes; an error in any rank ends the whole job with its message."""
    from .. import distributed as dist

    dist.init_process_group()
    try:
        code = _train(args, distributed=True)
    except BaseException as e:  # one rank alone returning would leave the others waiting
        dist.abort(f"deepwise train {args.model}: {type(e).__name__}: {e}")
    dist.destroy_process_group()
    return code


def _train(args: argparse.Namespace, distributed: bool = False) -> int:
    from ..train.recipes import train_classifier

    train_set, test_set = load_data(args.data, args.data_dir)
    shape = _image_shape(train_set)
    config: dict[str, Any] = {"model": args.model, "num_classes": len(train_set.classes)}
    if args.model == "mlp":
        try:
            hidden = [int(h) for h in args.hidden.split(",")]
        except ValueError:
            raise CommandError(f"--hidden {args.hidden!r}: give layer sizes separated by commas, "
                               f"e.g. 512,256") from None
        config.update(in_features=int(math.prod(shape)), hidden=hidden, dropout=args.dropout)
    else:
        config.update(in_channels=shape[0], image_size=shape[-1], dropout=args.dropout)
    config["data"] = args.data
    backend.manual_seed(args.seed)
    model = models.build(config)
    augment = None
    if getattr(args, "augment", False):
        from ..data import transforms

        pad = max(shape[-1] // 7, 1)
        augment = transforms.Compose([
            lambda x: transforms.random_crop(x, shape[-1], padding=pad),
            transforms.random_horizontal_flip])
    result = train_classifier(model, train_set, test_set, epochs=args.epochs,
                              batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                              weight_decay=args.weight_decay, patience=args.patience,
                              val_size=args.val_size, augment=augment,
                              schedule=None if args.schedule == "constant" else args.schedule,
                              out=args.out, config=config, seed=args.seed,
                              verbose=not args.quiet, distributed=distributed)
    if result.get("world_size", 1) > 1:
        from .. import distributed as dist

        if dist.get_rank() != 0:
            return 0
        print(f"{result['world_size']} ranks, {args.batch_size} samples per rank and step")
    _print_result(result, args.out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Rebuild the model stored in a checkpoint and print its test metrics."""
    from ..data import DataLoader
    from ..train import evaluate

    model, ckpt = models.load(args.checkpoint, expected=("mlp", "cnn", "lenet5"),
                              writer="deepwise train mlp|cnn")
    data = args.data or ckpt["config"].get("data")
    if data is None:
        raise CommandError("say which data set: --data fashion-mnist")
    _, test_set = load_data(data, args.data_dir)
    metrics = evaluate(model, DataLoader(test_set, batch_size=512), loss="cross_entropy",
                       metrics=("accuracy", "f1"))
    print(json.dumps({k: round(float(v), 4) for k, v in metrics.items()}))
    return 0


def _add_train(train_sub: Any, name: str, help_text: str, epochs: int, lr: float,
               dropout: float, schedule: str) -> argparse.ArgumentParser:
    p = train_sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--data", choices=DATASETS, default="fashion-mnist")
    p.add_argument("--data-dir", help="where the data set's files are (default: search "
                   "$DEEPWISE_DATA, ~/.cache/deepwise, /usr/share/datasets)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd", "rmsprop"))
    p.add_argument("--dropout", type=float, default=dropout)
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty")
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    p.add_argument("--val-size", type=float, default=0.1, help="held-out validation fraction")
    p.add_argument("--schedule", choices=SCHEDULES, default=schedule,
                   help="learning-rate schedule (constant: none)")
    p.add_argument("--out", help="directory for the checkpoint and metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--distributed", action="store_true", help="data-parallel over the processes "
                   "of mpirun -n N (--batch-size per process; rank 0 prints and writes)")
    p.set_defaults(model=name)
    return register(p, cmd_train)


def add_commands(subparsers: Any) -> None:
    """``deepwise demo``, ``deepwise train mlp|cnn`` and ``deepwise evaluate``."""
    demo = subparsers.add_parser("demo", help="train a small network on the embedded 8x8 digits",
                                 description=cmd_demo.__doc__)
    demo.add_argument("--epochs", type=int, default=60)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    register(demo, cmd_demo)

    train = train_parsers(subparsers)
    mlp = _add_train(train, "mlp", "train an MLP classifier on images", 30, 1e-3, 0.2, "cosine")
    mlp.add_argument("--hidden", default="512,256", help="hidden layer sizes, e.g. 512,256")
    mlp.set_defaults(patience=10)
    cnn = _add_train(train, "cnn", "train a small CNN (conv-BN-ReLU blocks) on images", 8, 1e-3,
                     0.1, "cosine")
    cnn.add_argument("--augment", action="store_true",
                     help="random crop (with padding) and horizontal flip of training images")

    ev = subparsers.add_parser("evaluate", help="print the test metrics of an image classifier's "
                               "checkpoint", description=cmd_evaluate.__doc__)
    ev.add_argument("checkpoint")
    ev.add_argument("--data", choices=DATASETS)
    ev.add_argument("--data-dir")
    register(ev, cmd_evaluate)
