"""Sentiment analysis: is a sentence positive or negative? A (bi-directional) recurrent network
reads the words and decides.

Sentences in a batch have different lengths, so they are padded to the longest one
(``data.text.pad_batch``), and bucketed by length so that little padding is needed
(``data.text.BucketSampler``). Padding must not change the answer: ``models.SentimentRNN`` gives
the recurrent layer the lengths (``lengths=``, the same as feeding it a PackedSequence) so it runs
each sentence for exactly its own number of steps, and pools over the valid steps only.

``train_sentiment`` trains one model (Adam, word dropout, early stopping on a held-out part of the
training data), ``cross_validate`` runs k-fold cross-validation with a fresh vocabulary per fold,
``predict`` scores new sentences, ``save_sentiment`` / ``load_sentiment`` keep model + vocabulary +
config in one file.

Commands::

    deepwise train sentiment --data DIR --cv 5 --out runs/sent
    deepwise predict runs/sent/sentiment.safetensors "a wonderful little phone"
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, models, nn, optim
from ..autograd import no_grad
from ..data.text import BucketSampler, Vocab, pad_batch, read_labelled_lines, tokenize
from ..io import atomic_write, save_model
from ..models import SentimentRNN
from ..nn import functional as F
from ..tensor import Tensor
from ._commands import register, train_parsers

__all__ = ["LABELS", "load_labelled_sentences", "train_sentiment", "cross_validate",
           "predict", "save_sentiment", "load_sentiment", "add_commands"]

LABELS = ("negative", "positive")


# --------------------------------------------------------------------------------------------
# data


def load_labelled_sentences(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read ``sentence<TAB>label`` lines from a file, or from every ``*_labelled.txt`` file of a
    directory (sorted by name), e.g. the UCI Amazon + Yelp sentences."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*_labelled.txt")))
        if not files:
            raise FileNotFoundError(f"load_labelled_sentences: no '*_labelled.txt' files in "
                                    f"'{path}'")
    else:
        files = [path]
    texts: list[str] = []
    labels: list[np.ndarray] = []
    for f in files:
        t, y = read_labelled_lines(f)
        texts += t
        labels.append(y)
    return texts, np.concatenate(labels)


def _encode_all(vocab: Vocab, token_lists: Sequence[list[str]]) -> list[np.ndarray]:
    """Ids per sentence; an empty sentence becomes one ``<unk>`` so every length is >= 1."""
    unk = vocab.unk_index if vocab.unk_index is not None else 0
    return [vocab.encode(toks) if toks else np.array([unk], dtype=np.int64)
            for toks in token_lists]


def _batches(seqs: list[np.ndarray], batch_size: int, shuffle: bool, pad: int,
             max_len: int | None) -> Any:
    for idx in BucketSampler([len(s) for s in seqs], batch_size, shuffle=shuffle):
        x, lengths = pad_batch([seqs[i] for i in idx], pad, max_len=max_len)
        yield idx, x, lengths


def _logits(model: SentimentRNN, seqs: list[np.ndarray], pad: int,
            batch_size: int = 256) -> np.ndarray:
    """Logits (N, C) for id sequences, in their original order (eval mode, no grad)."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(seqs), model.config["num_classes"]), dtype=np.float32)
    try:
        with no_grad():
            for idx, x, lengths in _batches(seqs, batch_size, False, pad, None):
                out[idx] = model(x, lengths).data
    finally:
        model.train(was_training)
    return out


# --------------------------------------------------------------------------------------------
# training


def train_sentiment(texts: Sequence[str], labels: Any, *, val_fraction: float = 0.1,
                    epochs: int = 20, patience: int | None = 6, batch_size: int = 32,
                    lr: float = 3e-3, weight_decay: float = 0.0, min_freq: int = 1,
                    word_dropout: float = 0.1, embed_dim: int = 64, hidden_size: int = 64,
                    bidirectional: bool = True, cell: str = "gru", dropout: float = 0.5,
                    pooling: str = "max", max_len: int | None = None, clip: float = 5.0,
                    seed: int = 0, log: Callable[[str], Any] | None = None
                    ) -> tuple[SentimentRNN, Vocab, dict[str, Any]]:
    """Train a SentimentRNN on ``texts`` / integer ``labels``.

    A seeded ``val_fraction`` of the data is held out; after each epoch its loss and accuracy are
    measured, and the weights of the epoch with the lowest loss are kept (early stopping after
    ``patience`` epochs without improvement). The vocabulary is built from the training part
    only. ``word_dropout``: the chance that a training word is replaced by ``<unk>`` (teaches the
    ``<unk>`` embedding, and regularises). ``max_len``: the model's limit; longer training
    sentences are cut to it (at prediction time a longer one raises SequenceTooLongError).

    Returns ``(model, vocab, info)``; info has ``best_epoch``, ``val_accuracy``, ``history``.
    """
    say = log or (lambda s: None)
    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != len(labels):
        raise ValueError(f"train_sentiment: {len(texts)} texts but {len(labels)} labels")
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    n_val = int(round(val_fraction * len(texts)))
    val_idx, tr_idx = order[:n_val], order[n_val:]
    tokens = [tokenize(t) for t in texts]
    vocab = Vocab([tokens[i] for i in tr_idx], min_freq=min_freq)
    seqs = _encode_all(vocab, tokens)
    tr_seqs, tr_y = [seqs[i] for i in tr_idx], labels[tr_idx]
    va_seqs, va_y = [seqs[i] for i in val_idx], labels[val_idx]
    num_classes = int(labels.max()) + 1 if len(labels) else 2
    model = SentimentRNN(len(vocab), embed_dim, hidden_size, bidirectional, cell, dropout,
                         max(num_classes, 2), pooling=pooling, padding_idx=vocab.pad_index,
                         max_len=max_len)
    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    pad, unk = vocab.pad_index, vocab.unk_index
    best: dict[str, Any] = {"score": math.inf, "epoch": 0, "state": None}
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for idx, x, lengths in _batches(tr_seqs, batch_size, True, pad, max_len):
            if word_dropout > 0:
                drop = (backend.default_generator().random(x.shape) < word_dropout) \
                    & (x.data != pad)
                x = Tensor._make(np.where(drop, unk, x.data))
            loss = F.cross_entropy(model(x, lengths), Tensor._make(tr_y[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            total += float(loss.item()) * len(idx)
            count += len(idx)
        rec = {"epoch": epoch, "loss": total / count}
        if n_val:
            z = _logits(model, va_seqs, pad)
            rec["val_loss"] = float(F.cross_entropy(Tensor._make(z), Tensor._make(va_y)).item())
            rec["val_accuracy"] = float((z.argmax(1) == va_y).mean())
        history.append(rec)
        say(f"epoch {epoch:3d}  loss {rec['loss']:.4f}"
            + (f"  val loss {rec['val_loss']:.4f}  val acc {rec['val_accuracy']:.4f}"
               if n_val else ""))
        score = rec.get("val_loss", rec["loss"])  # the smoother signal than a 0/1 accuracy
        if score < best["score"]:
            best = {"score": score, "epoch": epoch,
                    "state": {k: v.copy() for k, v in model.state_dict().items()}}
        elif patience is not None and epoch - best["epoch"] >= patience:
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    chosen = history[best["epoch"] - 1]
    info = {"best_epoch": best["epoch"], "val_accuracy": chosen.get("val_accuracy"),
            "val_loss": chosen.get("val_loss"),
            "history": history, "seconds": time.perf_counter() - t0,
            "train_size": len(tr_idx), "val_size": n_val}
    return model, vocab, info


def predict(model: SentimentRNN, vocab: Vocab, sentences: Sequence[str] | str) -> np.ndarray:
    """Class probabilities ``(N, C)`` for raw sentences (tokenized like the training data;
    unknown words become ``<unk>``). A single string gives ``(1, C)``."""
    if isinstance(sentences, str):
        sentences = [sentences]
    seqs = _encode_all(vocab, [tokenize(s) for s in sentences])
    z = _logits(model, seqs, vocab.pad_index or 0).astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def cross_validate(texts: Sequence[str], labels: Any, k: int = 5, seed: int = 0,
                   ensemble: int = 1, log: Callable[[str], Any] | None = None,
                   **train_kwargs: Any) -> dict[str, Any]:
    """k-fold cross-validation: each fold in turn is the test set, the model is trained on the
    rest (``train_sentiment(..., **train_kwargs)``, its vocabulary from that rest only).

    Folds come from one seeded permutation. ``ensemble`` > 1 trains that many models per fold
    (different seeds) and averages their probabilities. Returns ``{"accuracies": [...], "mean",
    "std", "seconds"}`` (plus ``"single_mean"``, the mean accuracy of the individual models).
    """
    say = log or (lambda s: None)
    labels = np.asarray(labels, dtype=np.int64)
    if k < 2 or k > len(texts):
        raise ValueError(f"cross_validate: k must be in 2..{len(texts)}, got {k}")
    if ensemble < 1:
        raise ValueError(f"cross_validate: ensemble must be >= 1, got {ensemble}")
    folds = np.array_split(np.random.default_rng(seed).permutation(len(texts)), k)
    accs, singles = [], []
    t0 = time.perf_counter()
    for f, test_idx in enumerate(folds):
        train_idx = np.concatenate([folds[j] for j in range(k) if j != f])
        test_texts, test_y = [texts[i] for i in test_idx], labels[test_idx]
        probs = 0.0
        for m in range(ensemble):
            model, vocab, info = train_sentiment([texts[i] for i in train_idx],
                                                 labels[train_idx], seed=seed + f + 100 * m,
                                                 **train_kwargs)
            p = predict(model, vocab, test_texts)
            singles.append(float((p.argmax(1) == test_y).mean()))
            probs = probs + p
        acc = float((probs.argmax(1) == test_y).mean())
        accs.append(acc)
        say(f"fold {f + 1}/{k}: test accuracy {acc:.4f}"
            + (f" ({ensemble} models averaged)" if ensemble > 1 else
               f" (best epoch {info['best_epoch']}, {info['seconds']:.1f} s)"))
    return {"accuracies": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)),
            "single_mean": float(np.mean(singles)), "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------------------------
# checkpoints


def save_sentiment(path: str | os.PathLike, model: SentimentRNN, vocab: Vocab,
                   label_names: Sequence[str] = LABELS, **extra: Any) -> None:
    """The checkpoint: config + vocabulary + label names + weights, in one safetensors file."""
    save_model(path, model, {"model": "sentiment-rnn", **model.config}, vocab=vocab.to_dict(),
               label_names=list(label_names), **extra)


def load_sentiment(path: str | os.PathLike) -> tuple[SentimentRNN, Vocab, dict[str, Any]]:
    """Rebuild ``(model, vocab, checkpoint)`` from a file written by :func:`save_sentiment`."""
    model, ckpt = models.load(path, expected="sentiment-rnn", needs=("vocab",),
                              writer="deepwise train sentiment")
    vocab = Vocab.from_dict(ckpt["vocab"], f"load_sentiment('{os.fspath(path)}')")
    return model, vocab, ckpt


# --------------------------------------------------------------------------------------------
# commands


def cmd_train(args: argparse.Namespace) -> int:
    """Train a (bi-directional) LSTM/GRU sentence-sentiment classifier; optionally report k-fold
    cross-validated accuracy first."""
    kwargs: dict[str, Any] = dict(
        epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
        embed_dim=args.embed, hidden_size=args.hidden, bidirectional=not args.unidirectional,
        cell=args.cell, dropout=args.dropout, pooling=args.pooling, min_freq=args.min_freq,
        word_dropout=args.word_dropout, weight_decay=args.weight_decay)
    log = None if args.quiet else print
    texts, labels = load_labelled_sentences(args.data)
    print(f"{len(texts)} sentences ({int(labels.sum())} positive) from {args.data}")
    metrics: dict[str, Any] = {"data": os.fspath(args.data), "sentences": len(texts),
                               "settings": kwargs}
    if args.cv:
        cv = cross_validate(texts, labels, k=args.cv, seed=args.seed, ensemble=args.ensemble,
                            log=log, **kwargs)
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
        with atomic_write(os.path.join(args.out, "metrics.json")) as f:
            json.dump(metrics, f, indent=2)
        print(f"wrote {path} and {os.path.join(args.out, 'metrics.json')}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Print the predicted label and its probability for each sentence."""
    model, vocab, ckpt = load_sentiment(args.checkpoint)
    probs = predict(model, vocab, args.sentences)
    names = ckpt.get("label_names") or [str(i) for i in range(probs.shape[1])]
    for sentence, p in zip(args.sentences, probs):
        k = int(p.argmax())
        print(f"{names[k]}\t{p[k]:.3f}\t{sentence}")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train sentiment`` and ``deepwise predict``."""
    d = argparse.ArgumentDefaultsHelpFormatter
    s = train_parsers(subparsers).add_parser(
        "sentiment", help="train a sentence-sentiment LSTM/GRU classifier",
        description=cmd_train.__doc__, formatter_class=d)
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
    register(s, cmd_train)

    q = subparsers.add_parser("predict", help="label sentences with a trained sentiment "
                              "checkpoint", description=cmd_predict.__doc__, formatter_class=d)
    q.add_argument("checkpoint", help="a sentiment.safetensors file from 'train sentiment'")
    q.add_argument("sentences", nargs="+", metavar="SENTENCE")
    register(q, cmd_predict)
