"""The deepwise command: train, evaluate, explain.

``deepwise demo`` trains a small network on the digits shipped inside the package;
``deepwise train mlp --data fashion-mnist`` and ``deepwise evaluate CHECKPOINT`` train and test
on real data sets; ``deepwise --help`` lists everything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import deepwise

DATASETS = ("fashion-mnist", "mnist", "digits")


def _load_data(name: str, data_dir: str | None) -> tuple[Any, Any]:
    from deepwise.data.datasets import MNIST, Digits, FashionMNIST

    if name == "digits":
        return Digits(train=True), Digits(train=False)
    cls = FashionMNIST if name == "fashion-mnist" else MNIST
    return cls(root=data_dir, train=True), cls(root=data_dir, train=False)


def _image_shape(dataset: Any) -> tuple[int, ...]:
    x, _ = dataset[0]
    return tuple(getattr(x, "shape", ()))


def _build(config: dict) -> Any:
    from deepwise import models

    return models.build(config)


def _print_result(result: dict, out: str | None) -> None:
    print(f"test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}  "
          f"(best epoch {result['best_epoch']} of {result['epochs_run']}, "
          f"{result['seconds']:.1f} s, {result['seconds_per_epoch']:.1f} s/epoch)")
    if out:
        print(f"wrote {out}/model.safetensors and {out}/metrics.json")


def cmd_demo(args: argparse.Namespace) -> int:
    """Train an MLP on the 8x8 digits shipped with deepwise and print its test accuracy."""
    from deepwise.train.recipes import train_classifier

    train_set, test_set = _load_data("digits", None)
    config = {"model": "mlp", "in_features": 64, "hidden": [128, 64], "num_classes": 10,
              "dropout": 0.1}
    deepwise.manual_seed(args.seed)
    model = _build(config)
    print(f"deepwise demo: an MLP 64-128-64-10 learns the UCI 8x8 digits "
          f"({len(train_set)} training images, {len(test_set)} test images)")
    result = train_classifier(model, train_set, test_set, epochs=args.epochs, batch_size=32,
                              lr=2e-3, patience=10, val_size=0.1, seed=args.seed,
                              verbose=not args.quiet, config=config)
    _print_result(result, None)
    return 0


def cmd_train_image(args: argparse.Namespace) -> int:
    """``deepwise train mlp|cnn``: train on an image data set, write checkpoint and metrics."""
    from deepwise.train.recipes import train_classifier

    train_set, test_set = _load_data(args.data, args.data_dir)
    shape = _image_shape(train_set)
    config: dict[str, Any] = {"model": args.model, "num_classes": len(train_set.classes)}
    if args.model == "mlp":
        config.update(in_features=int(math.prod(shape)),
                      hidden=[int(h) for h in args.hidden.split(",")], dropout=args.dropout)
    else:
        config.update(in_channels=shape[0], image_size=shape[-1], dropout=args.dropout)
    config["data"] = args.data
    deepwise.manual_seed(args.seed)
    model = _build(config)
    augment = None
    if getattr(args, "augment", False):
        from deepwise.data import transforms

        pad = max(shape[-1] // 7, 1)
        augment = transforms.Compose([
            lambda x: transforms.random_crop(x, shape[-1], padding=pad),
            transforms.random_horizontal_flip])
    result = train_classifier(model, train_set, test_set, epochs=args.epochs,
                              batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                              weight_decay=args.weight_decay, patience=args.patience,
                              val_size=args.val_size, augment=augment, schedule=args.schedule,
                              out=args.out,
                              config=config, seed=args.seed, verbose=not args.quiet)
    _print_result(result, args.out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Rebuild the model stored in a checkpoint and print its test metrics."""
    from deepwise.data import DataLoader
    from deepwise.io import load_checkpoint
    from deepwise.train import evaluate

    ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("config")
    if not config or "model" not in config:
        raise SystemExit(f"deepwise evaluate: {args.checkpoint} holds no model config; it was "
                         "not written by 'deepwise train'")
    model = _build(config)
    load_checkpoint(args.checkpoint, model=model)
    data = args.data or config.get("data")
    if data is None:
        raise SystemExit("deepwise evaluate: say which data set: --data fashion-mnist")
    _, test_set = _load_data(data, args.data_dir)
    metrics = evaluate(model, DataLoader(test_set, batch_size=512), loss="cross_entropy",
                       metrics=("accuracy", "f1"))
    print(json.dumps({k: round(float(v), 4) for k, v in metrics.items()}))
    return 0


def _add_image_train(train_sub: Any, name: str, help_text: str, epochs: int, lr: float,
                     dropout: float = 0.2, schedule: str | None = None) -> Any:
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
    p.add_argument("--schedule", choices=("cosine", "plateau"), default=schedule,
                   help="learning-rate schedule")
    p.add_argument("--out", help="directory for the checkpoint and metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train_image, model=name)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepwise", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"deepwise {deepwise.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="train a small network on the embedded 8x8 digits",
                          description=cmd_demo.__doc__)
    demo.add_argument("--epochs", type=int, default=60)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train a model (mlp, cnn, char-rnn, sentiment)",
                           description="Train a model; see 'deepwise train MODEL --help'.")
    train_sub = train.add_subparsers(dest="model_kind", metavar="MODEL", required=True)
    mlp = _add_image_train(train_sub, "mlp", "train an MLP classifier on images", 30, 1e-3,
                           dropout=0.2, schedule="cosine")
    mlp.add_argument("--hidden", default="512,256", help="hidden layer sizes, e.g. 512,256")
    mlp.set_defaults(patience=10)
    cnn = _add_image_train(train_sub, "cnn", "train a small CNN (conv-BN-ReLU blocks) on images",
                           8, 1e-3, dropout=0.1, schedule="cosine")
    cnn.add_argument("--augment", action="store_true",
                     help="random crop (with padding) and horizontal flip of training images")

    ev = sub.add_parser("evaluate", help="print the test metrics of a checkpoint",
                        description=cmd_evaluate.__doc__)
    ev.add_argument("checkpoint")
    ev.add_argument("--data", choices=DATASETS)
    ev.add_argument("--data-dir")
    ev.set_defaults(func=cmd_evaluate)

    from deepwise.cli_text import add_commands as add_text_commands
    from deepwise.explain.cli import add_commands as add_explain_commands

    add_text_commands(sub, train_sub)
    add_explain_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
