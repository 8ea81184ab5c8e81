"""Sentence sentiment with a recurrent network: words -> embeddings -> (bi-directional) LSTM/GRU
-> pooling over the real words only -> positive / negative.

Sentences in a batch have different lengths, so they are padded to the longest one
(``data.text.pad_batch``), and bucketed by length so that little padding is needed
(``data.text.BucketSampler``). Padding must not change the answer: the recurrent layer is given
the lengths (``lengths=``, the same as feeding it a PackedSequence) so it runs each sentence for
exactly its own number of steps - the backward direction of a bidirectional layer starts at the
sentence's last real word, not at a pad - and the pooling (max or mean over time, or the final
states) looks at the valid steps only.

``train_sentiment`` trains one model (Adam, word dropout, early stopping on a held-out part of the
training data), ``cross_validate`` runs k-fold cross-validation with a fresh vocabulary per fold,
``predict`` scores new sentences, ``save_sentiment`` / ``load_sentiment`` keep model + vocabulary +
config in one file.
"""

from __future__ import annotations

import glob
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, nn, optim
from ..autograd import no_grad
from ..data.text import BucketSampler, Vocab, pad_batch, read_labelled_lines, tokenize
from ..io import load_checkpoint, save_checkpoint
from ..nn import functional as F
from ..tensor import Tensor
from .char_rnn import SequenceTooLongError

__all__ = ["SentimentRNN", "load_labelled_sentences", "train_sentiment", "cross_validate",
           "predict", "save_sentiment", "load_sentiment"]

POOLINGS = ("max", "mean", "last")
LABELS = ("negative", "positive")


class SentimentRNN(nn.Module):
    """Embedding -> (Bi)LSTM or (Bi)GRU over the valid steps -> pooling -> Dropout -> Linear.

    Args:
        vocab_size: number of word ids (``len(vocab)``).
        embed_dim: word embedding size E.
        hidden_size: recurrent state size H per direction.
        bidirectional: read the sentence both ways (features ``2H``).
        cell: ``'lstm'`` or ``'gru'``.
        dropout: on the embeddings and before the output layer.
        num_classes: output classes C.
        num_layers: stacked recurrent layers.
        pooling: ``'max'`` or ``'mean'`` over the valid time steps, or ``'last'``: the final
            state of each direction (at each sentence's own end).
        padding_idx: the ``<pad>`` id (its embedding stays zero).
        max_len: if given, the most words a sentence may have (longer raise
            SequenceTooLongError).

    Shape: input ids ``(B, T)`` int64 and ``lengths`` ``(B,)`` (valid words per row, each in
    ``1..T``; None: all T); output logits ``(B, C)``. Steps at ``t >= lengths[b]`` are
    ignored: changing or adding padding leaves the output unchanged.

    >>> model = SentimentRNN(1000, embed_dim=32, hidden_size=16)
    >>> model(deepwise.tensor([[5, 6, 7], [8, 0, 0]]), deepwise.tensor([3, 1])).shape
    (2, 2)
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 64,
                 bidirectional: bool = True, cell: str = "lstm", dropout: float = 0.5,
                 num_classes: int = 2, num_layers: int = 1, pooling: str = "max",
                 padding_idx: int | None = 0, max_len: int | None = None) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"SentimentRNN: cell must be 'lstm' or 'gru', got {cell!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"SentimentRNN: pooling must be one of {POOLINGS}, got {pooling!r}")
        self.config = {"vocab_size": int(vocab_size), "embed_dim": int(embed_dim),
                       "hidden_size": int(hidden_size), "bidirectional": bool(bidirectional),
                       "cell": cell, "dropout": float(dropout), "num_classes": int(num_classes),
                       "num_layers": int(num_layers), "pooling": pooling,
                       "padding_idx": padding_idx,
                       "max_len": None if max_len is None else int(max_len)}
        self.cell, self.pooling, self.max_len = cell, pooling, max_len
        self.num_directions = 2 if bidirectional else 1
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embed_dim, hidden_size, num_layers, batch_first=True,
                       bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_directions * hidden_size, num_classes)

    def _lengths(self, x: Tensor, lengths: Any) -> np.ndarray:
        b, t = x.shape
        if lengths is None:
            lens = np.full(b, t, dtype=np.int64)
        else:
            lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths,
                              dtype=np.int64).reshape(-1)
            if lens.shape != (b,):
                raise ValueError(f"SentimentRNN: lengths must have shape ({b},) for input "
                                 f"{tuple(x.shape)}, got {lens.shape}")
            bad = np.flatnonzero((lens < 1) | (lens > t))
            if len(bad):
                k = int(bad[0])
                raise ValueError(f"SentimentRNN: sequence {k} has length {int(lens[k])}; lengths "
                                 f"must be in 1..{t} (the padded width) - an empty sentence needs "
                                 f"at least one token (e.g. '<unk>')")
        if self.max_len is not None and lens.max(initial=0) > self.max_len:
            k = int(np.argmax(lens))
            raise SequenceTooLongError(
                f"SentimentRNN: sequence {k} has {int(lens[k])} tokens but this model accepts at "
                f"most {self.max_len} (max_len); shorten it (pad_batch(..., max_len="
                f"{self.max_len}) cuts sequences)")
        return lens

    def forward(self, x: Tensor, lengths: Any = None) -> Tensor:
        if x.ndim != 2:
            raise ValueError(f"SentimentRNN: expected word ids of shape (B, T), got {x.shape}")
        lens = self._lengths(x, lengths)
        b, t = x.shape
        emb = self.drop(self.embed(x))  # (B, T, E)
        # lengths=: each row runs for exactly its own steps (the reverse direction starts at the
        # row's last real word); outputs past a row's end are 0 and h_n is its state at its end
        out, hidden = self.rnn(emb, lengths=lens)  # out: (B, T, D*H)
        if self.pooling == "last":
            h = hidden[0] if self.cell == "lstm" else hidden  # (L*D, B, H)
            feats = h[-self.num_directions:]  # the last layer's directions, (D, B, H)
            feats = feats.permute(1, 0, 2).reshape(b, -1)  # (B, D*H)
        else:
            valid = Tensor._make((np.arange(t) < lens[:, None])[:, :, None])  # (B, T, 1)
            if self.pooling == "max":
                feats = out.masked_fill(valid.logical_not(), -math.inf).amax(dim=1)
            else:
                feats = (out * valid).sum(dim=1) / Tensor._make(lens[:, None].astype(out.dtype))
        return self.head(self.drop(feats))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


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
            best = {"score": score, "epoch": epoch, "state": model.state_dict()}  # copies
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
    """Checkpoint = weights + vocabulary + config + label names, in one safetensors file."""
    save_checkpoint(path, model, config={"model": "sentiment-rnn", **model.config},
                    vocab=vocab.to_dict(), label_names=list(label_names), **extra)


def load_sentiment(path: str | os.PathLike) -> tuple[SentimentRNN, Vocab, dict[str, Any]]:
    """Rebuild ``(model, vocab, checkpoint)`` from a file written by :func:`save_sentiment`."""
    ckpt = load_checkpoint(path, restore_rng=False)
    config = ckpt.get("config") or {}
    if config.get("model") != "sentiment-rnn" or "vocab" not in ckpt:
        raise ValueError(f"load_sentiment: '{os.fspath(path)}' is not a sentiment checkpoint (its "
                         f"config names model {config.get('model')!r}); write one with "
                         f"'deepwise train sentiment'")
    vocab = Vocab.from_dict(ckpt["vocab"], f"load_sentiment('{os.fspath(path)}')")
    model = SentimentRNN(**{k: v for k, v in config.items() if k != "model"})
    load_checkpoint(path, model, restore_rng=False)
    model.eval()
    return model, vocab, ckpt
