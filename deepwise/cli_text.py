"""The text commands of ``deepwise``: ``train char-rnn``, ``generate``, ``train sentiment``,
``predict``.

``deepwise.cli`` calls :func:`add_commands` with its top-level sub-parsers and the sub-parsers of
its ``train`` group. Every command turns a bad file or an unknown character into a one-line
message and exit status 1, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

__all__ = ["add_commands", "cmd_train_char_rnn", "cmd_generate", "cmd_train_sentiment",
           "cmd_predict"]


def _fail(command: str, e: Exception) -> SystemExit:
    return SystemExit(f"deepwise {command}: {e}")


def _user_errors() -> tuple[type[Exception], ...]:
    from deepwise.io import CheckpointError, SerializationError

    return (FileNotFoundError, ValueError, CheckpointError, SerializationError)


def cmd_train_char_rnn(args: argparse.Namespace) -> int:
    """Train a character-level LSTM language model on a text file (truncated BPTT, Adam)."""
    from deepwise.models.char_rnn import train_char_rnn

    if args.epochs is None and args.minutes is None and args.max_steps is None:
        args.epochs = 1
    try:
        result = train_char_rnn(
            path=args.text, epochs=args.epochs, minutes=args.minutes, max_steps=args.max_steps,
            batch_size=args.batch_size, bptt=args.bptt, lr=args.lr, embed_dim=args.embed,
            hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout,
            clip=args.clip, eval_every=args.eval_every, out=args.out, seed=args.seed,
            sample_length=args.sample_length, log=None if args.quiet else print)
    except _user_errors() as e:
        raise _fail("train char-rnn", e) from None
    print(f"validation loss {result['val_loss']:.4f} nats/char ({result['val_bpc']:.4f} "
          f"bits/char) after {result['steps']} steps ({result['epochs']:.2f} epochs, "
          f"{result['seconds'] / 60:.1f} min of training)")
    if result["sample"]:
        print("--- sample ---")
        print(result["sample"])
    if args.out:
        metrics = {k: v for k, v in result.items() if k not in ("model", "vocab", "sample")}
        from deepwise.io import atomic_write

        with atomic_write(os.path.join(args.out, "metrics.json")) as f:
            json.dump(metrics, f, indent=2)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Write text with a trained char-RNN checkpoint, starting from a prime string."""
    import numpy as np

    from deepwise.models.char_rnn import generate, load_char_rnn

    try:
        model, vocab, _ = load_char_rnn(args.checkpoint)
        rng = np.random.default_rng(args.seed)
        text = generate(model, vocab, args.prime, args.length, temperature=args.temperature,
                        top_k=args.top_k, generator=rng)
    except _user_errors() as e:
        raise _fail("generate", e) from None
    print(text)
    return 0


def cmd_train_sentiment(args: argparse.Namespace) -> int:
    """Train a (bi-directional) LSTM/GRU sentence-sentiment classifier; optionally report k-fold
    cross-validated accuracy first."""
    from deepwise.models.sentiment import (
        cross_validate,
        load_labelled_sentences,
        save_sentiment,
        train_sentiment,
    )

    kwargs: dict[str, Any] = dict(
        epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
        embed_dim=args.embed, hidden_size=args.hidden, bidirectional=not args.unidirectional,
        cell=args.cell, dropout=args.dropout, pooling=args.pooling, min_freq=args.min_freq,
        word_dropout=args.word_dropout, weight_decay=args.weight_decay)
    log = None if args.quiet else print
    try:
        texts, labels = load_labelled_sentences(args.data)
        print(f"{len(texts)} sentences ({int(labels.sum())} positive) from {args.data}")
        metrics: dict[str, Any] = {"data": os.fspath(args.data), "sentences": len(texts),
                                   "settings": kwargs}
        if args.cv:
            cv = cross_validate(texts, labels, k=args.cv, seed=args.seed,
                                ensemble=args.ensemble, log=log, **kwargs)
            print(f"{args.cv}-fold cross-validated accuracy {cv['mean']:.4f} +- {cv['std']:.4f} "
                  f"(folds {', '.join(f'{a:.3f}' for a in cv['accuracies'])}; "
                  f"{cv['seconds']:.0f} s)"
                  + (f"; single models {cv['single_mean']:.4f}" if args.ensemble > 1 else ""))
            metrics["cross_validation"] = cv
        model, vocab, info = train_sentiment(texts, labels, seed=args.seed, log=log, **kwargs)
        print(f"final model: held-out accuracy {info['val_accuracy']:.4f} at epoch "
              f"{info['best_epoch']} ({info['seconds']:.1f} s); vocabulary of {len(vocab)} words")
        metrics["final"] = {k: v for k, v in info.items() if k != "history"}
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            path = os.path.join(args.out, "sentiment.safetensors")
            save_sentiment(path, model, vocab)
            from deepwise.io import atomic_write

            with atomic_write(os.path.join(args.out, "metrics.json")) as f:
                json.dump(metrics, f, indent=2)
            print(f"wrote {path} and {os.path.join(args.out, 'metrics.json')}")
    except _user_errors() as e:
        raise _fail("train sentiment", e) from None
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Print the predicted label and its probability for each sentence."""
    from deepwise.models.sentiment import load_sentiment, predict

    try:
        model, vocab, ckpt = load_sentiment(args.checkpoint)
        probs = predict(model, vocab, args.sentences)
    except _user_errors() as e:
        raise _fail("predict", e) from None
    names = ckpt.get("label_names") or [str(i) for i in range(probs.shape[1])]
    for sentence, p in zip(args.sentences, probs):
        k = int(p.argmax())
        print(f"{names[k]}\t{p[k]:.3f}\t{sentence}")
    return 0


def add_commands(top: Any, train: Any) -> None:
    """Register ``generate`` and ``predict`` on ``top`` (the ``deepwise`` sub-parsers) and
    ``char-rnn`` and ``sentiment`` on ``train`` (the ``deepwise train`` sub-parsers)."""
    d = argparse.ArgumentDefaultsHelpFormatter
    p = train.add_parser("char-rnn", help="train a character-level LSTM language model",
                         description=cmd_train_char_rnn.__doc__ + " Give a budget with "
                         "--epochs, --minutes or --max-steps (default: 1 epoch).",
                         formatter_class=d)
    p.add_argument("--text", required=True, metavar="FILE", help="a UTF-8 text file, e.g. "
                   "tiny-shakespeare's input.txt (the last 10%% is the validation set)")
    p.add_argument("--epochs", type=int, help="passes over the training text")
    p.add_argument("--minutes", type=float, help="stop after this much training time")
    p.add_argument("--max-steps", type=int, help="stop after this many batches")
    p.add_argument("--batch-size", type=int, default=32, help="parallel text streams")
    p.add_argument("--bptt", type=int, default=64, help="time steps per batch (truncated BPTT)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (cosine decay)")
    p.add_argument("--embed", type=int, default=64, help="character embedding size")
    p.add_argument("--hidden", type=int, default=256, help="LSTM hidden size")
    p.add_argument("--layers", type=int, default=2, help="LSTM layers")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--clip", type=float, default=5.0, help="gradient-norm clipping threshold")
    p.add_argument("--eval-every", type=int, help="steps between validation passes "
                   "(default: once per epoch)")
    p.add_argument("--sample-length", type=int, default=300, help="characters to sample at the "
                   "end (0: none)")
    p.add_argument("--out", metavar="DIR", help="write DIR/char_rnn.safetensors and "
                   "DIR/metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train_char_rnn)

    g = top.add_parser("generate", help="sample text from a trained char-RNN checkpoint",
                       description=cmd_generate.__doc__, formatter_class=d)
    g.add_argument("checkpoint", help="a char_rnn.safetensors file from 'train char-rnn'")
    g.add_argument("--prime", default="\n", help="the text to start from")
    g.add_argument("--length", type=int, default=500, help="characters to generate")
    g.add_argument("--temperature", type=float, default=0.8,
                   help="<1: safer, >1: more surprising; 0: always the most likely character")
    g.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely only")
    g.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    g.set_defaults(func=cmd_generate)

    s = train.add_parser("sentiment", help="train a sentence-sentiment LSTM/GRU classifier",
                         description=cmd_train_sentiment.__doc__, formatter_class=d)
    s.add_argument("--data", required=True, metavar="DIR", help="a directory of "
                   "'*_labelled.txt' files (sentence<TAB>label), e.g. "
                   "the UCI sentiment-labelled-sentences folder, or one such file")
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--patience", type=int, default=6, help="early-stopping patience (epochs)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--lr", type=float, default=3e-3)
    s.add_argument("--weight-decay", type=float, default=0.0)
    s.add_argument("--embed", type=int, default=64, help="word embedding size")
    s.add_argument("--hidden", type=int, default=64, help="hidden size per direction")
    s.add_argument("--cell", choices=("lstm", "gru"), default="gru")
    s.add_argument("--unidirectional", action="store_true", help="read left to right only")
    s.add_argument("--pooling", choices=("max", "mean", "last"), default="max")
    s.add_argument("--dropout", type=float, default=0.5)
    s.add_argument("--word-dropout", type=float, default=0.1,
                   help="chance of replacing a training word by <unk>")
    s.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk>")
    s.add_argument("--cv", type=int, default=0, metavar="K",
                   help="first report K-fold cross-validated accuracy (0: skip)")
    s.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="in cross-validation, average N models per fold")
    s.add_argument("--out", metavar="DIR", help="write DIR/sentiment.safetensors and "
                   "DIR/metrics.json")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true", help="no per-epoch output")
    s.set_defaults(func=cmd_train_sentiment)

    q = top.add_parser("predict", help="label sentences with a trained sentiment checkpoint",
                       description=cmd_predict.__doc__, formatter_class=d)
    q.add_argument("checkpoint", help="a sentiment.safetensors file from 'train sentiment'")
    q.add_argument("sentences", nargs="+", metavar="SENTENCE")
    q.set_defaults(func=cmd_predict)
