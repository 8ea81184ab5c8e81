"""A character-level language model (Karpathy's char-rnn): read text one character at a time,
predict the next one, then write new text by sampling from the predictions.

The parts, in the order they run:

* ``CharRNN``: Embedding -> multi-layer LSTM -> Linear over the characters.
* ``train_char_rnn``: truncated backpropagation through time (BPTT). The text is cut into
  ``batch_size`` contiguous streams (``data.text.LMBatcher``); each batch covers the next ``bptt``
  characters of every stream. The LSTM's state at the end of a batch is the state at the start of
  the next (the streams continue), but it is *detached*: gradients flow back only ``bptt`` steps,
  which bounds the memory and the cost of a step. Adam, gradient-norm clipping (the usual cure
  for the occasional exploding RNN gradient), a cosine learning-rate decay over the run, and a
  validation loss on the held-out last 10% of the text, in nats and in bits per character
  (bits = nats / ln 2).
* ``generate``: feed a prime string, then repeatedly sample the next character from
  ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when asked.

A checkpoint holds the weights, the optimizer, the vocabulary and the config
(``save_char_rnn`` / ``load_char_rnn``), so ``deepwise generate ckpt.safetensors`` needs nothing
else.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, nn, optim
from ..autograd import no_grad
from ..data.text import CharVocab, LMBatcher, UnknownTokenError, read_text
from ..io import load_checkpoint, save_checkpoint
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["CharRNN", "generate", "sample_next", "train_char_rnn", "evaluate_lm",
           "save_char_rnn", "load_char_rnn", "SequenceTooLongError"]


class SequenceTooLongError(ValueError):
    """An input has more time steps than the model's ``max_len`` allows."""


def detach_hidden(hidden: Any) -> Any:
    """Cut the graph behind a recurrent state (a Tensor, or an LSTM's ``(h, c)``): the values
    carry on into the next batch, the gradients do not (truncated BPTT)."""
    if hidden is None:
        return None
    if isinstance(hidden, Tensor):
        return hidden.detach()
    return tuple(detach_hidden(h) for h in hidden)


class CharRNN(nn.Module):
    """Embedding -> LSTM (``num_layers``, dropout between layers) -> Dropout -> Linear.

    Args:
        vocab_size: number of characters V.
        embed_dim: size of a character's embedding E.
        hidden_size: LSTM state size H.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the output layer.
        max_len: if given, the most time steps one call accepts (longer inputs raise
            SequenceTooLongError); None: any length.

    Shape: input ``(T, B)`` int64 character ids (time-major, like ``nn.LSTM``'s default);
    output ``(logits (T, B, V), hidden)`` where ``hidden = (h, c)``, each
    ``(num_layers, B, H)``; pass ``hidden`` back in to continue the sequences.

    >>> model = CharRNN(65, hidden_size=32, num_layers=1)
    >>> logits, (h, c) = model(deepwise.zeros(10, 4, dtype=deepwise.int64))
    >>> logits.shape, h.shape
    ((10, 4, 65), (1, 4, 32))
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256,
                 num_layers: int = 2, dropout: float = 0.2, max_len: int | None = None) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"CharRNN: vocab_size must be >= 1, got {vocab_size}")
        self.config = {"vocab_size": int(vocab_size), "embed_dim": int(embed_dim),
                       "hidden_size": int(hidden_size), "num_layers": int(num_layers),
                       "dropout": float(dropout),
                       "max_len": None if max_len is None else int(max_len)}
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor, hidden: Any = None) -> tuple[Tensor, Any]:
        if x.ndim != 2:
            raise ValueError(f"CharRNN: expected character ids of shape (T, B), got {x.shape}")
        if self.max_len is not None and x.shape[0] > self.max_len:
            raise SequenceTooLongError(
                f"CharRNN: the input has {x.shape[0]} time steps but this model accepts at most "
                f"{self.max_len} (max_len); feed it in chunks of at most {self.max_len}, passing "
                f"the returned hidden state to the next call")
        out, hidden = self.lstm(self.embed(x), hidden)
        return self.head(self.drop(out)), hidden

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


# --------------------------------------------------------------------------------------------
# sampling


def sample_next(logits: Any, temperature: float = 0.8, top_k: int | None = None,
                generator: np.random.Generator | None = None) -> np.ndarray:
    """Draw one id per row from ``softmax(logits / temperature)``.

    ``top_k``: keep only the k largest logits of each row (the rest get probability 0).
    ``temperature`` 0 picks the arg-max (greedy); below 1 sharpens, above 1 flattens.

    Shape: logits ``(B, V)`` (or ``(V,)``) -> ids ``(B,)`` int64 (or a 0-d array).
    """
    z = np.asarray(logits.data if isinstance(logits, Tensor) else logits, dtype=np.float64)
    squeeze = z.ndim == 1
    z = np.atleast_2d(z)
    if temperature < 0:
        raise ValueError(f"sample_next: temperature must be >= 0, got {temperature}")
    if top_k is not None:
        if not 1 <= top_k:
            raise ValueError(f"sample_next: top_k must be a positive int, got {top_k}")
        if top_k < z.shape[1]:
            kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
            z = np.where(z >= kth, z, -np.inf)
    if temperature == 0:
        ids = z.argmax(axis=1)
    else:
        z = (z - z.max(axis=1, keepdims=True)) / temperature
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        gen = generator if generator is not None else backend.default_generator()
        # inverse-CDF sampling, one uniform draw per row
        u = gen.random((len(p), 1))
        ids = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
        ids = np.where(p[np.arange(len(p)), ids] > 0, ids, p.argmax(axis=1))
    ids = ids.astype(np.int64)
    return ids[0] if squeeze else ids


def generate(model: CharRNN, vocab: CharVocab, prime: str, length: int,
             temperature: float = 0.8, top_k: int | None = None,
             generator: np.random.Generator | None = None) -> str:
    """Continue ``prime`` by ``length`` sampled characters; returns prime + the new text.

    The prime is read first (in chunks of ``model.max_len`` when the model has one), then each
    new character is fed back in. A prime character that the model never saw raises
    UnknownTokenError naming it and its position.

    >>> generate(model, vocab, "ROMEO:", 200, temperature=0.8)   # doctest: +SKIP
    """
    if not prime:
        raise ValueError("generate: the prime must hold at least one character")
    if length < 0:
        raise ValueError(f"generate: length must be >= 0, got {length}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"generate: the vocabulary has {len(vocab)} characters but the model "
                         f"was built for {model.vocab_size}")
    try:
        ids = vocab.encode(prime, strict=True)
    except UnknownTokenError as e:
        raise UnknownTokenError(f"generate: the prime {prime[:40]!r} holds a character the model "
                                f"was not trained on - {e}") from None
    was_training = model.training
    model.eval()
    chunk = model.max_len or len(ids)
    out = []
    try:
        with no_grad():
            hidden = None
            for s in range(0, len(ids), chunk):
                logits, hidden = model(Tensor._make(ids[s:s + chunk].reshape(-1, 1)), hidden)
            last = logits.data[-1]
            x = np.empty((1, 1), dtype=np.int64)
            for _ in range(length):
                nxt = int(sample_next(last, temperature, top_k, generator)[0])
                out.append(nxt)
                x[0, 0] = nxt
                logits, hidden = model(Tensor._make(x), hidden)
                last = logits.data[-1]
    finally:
        model.train(was_training)
    return prime + vocab.decode(out)


# --------------------------------------------------------------------------------------------
# training


def evaluate_lm(model: CharRNN, ids: np.ndarray, batch_size: int = 16, bptt: int = 256) -> float:
    """Mean next-character cross-entropy (nats) of ``model`` over ``ids``, reading them as
    ``batch_size`` contiguous streams with the state carried across chunks (no dropout)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            hidden = None
            for x, y in LMBatcher(ids, batch_size, bptt):
                logits, hidden = model(x, hidden)
                loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), y.reshape(-1),
                                       reduction="sum")
                total += float(loss.item())
                count += y.numel()
    finally:
        model.train(was_training)
    return total / count


def save_char_rnn(path: str | os.PathLike, model: CharRNN, vocab: CharVocab,
                  optimizer: Any = None, **extra: Any) -> None:
    """Checkpoint = weights + (optimizer) + vocabulary + config, in one safetensors file."""
    save_checkpoint(path, model, optimizer, config={"model": "char-rnn", **model.config},
                    vocab=vocab.to_dict(), **extra)


def load_char_rnn(path: str | os.PathLike) -> tuple[CharRNN, CharVocab, dict[str, Any]]:
    """Rebuild ``(model, vocab, checkpoint)`` from a file written by :func:`save_char_rnn`."""
    ckpt = load_checkpoint(path, restore_rng=False)
    config = ckpt.get("config") or {}
    if config.get("model") != "char-rnn" or "vocab" not in ckpt:
        raise ValueError(f"load_char_rnn: '{os.fspath(path)}' is not a char-RNN checkpoint (its "
                         f"config names model {config.get('model')!r}); write one with "
                         f"'deepwise train char-rnn'")
    vocab = CharVocab.from_dict(ckpt["vocab"], f"load_char_rnn('{os.fspath(path)}')")
    model = CharRNN(**{k: v for k, v in config.items() if k != "model"})
    load_checkpoint(path, model, restore_rng=False)
    model.eval()
    return model, vocab, ckpt


def train_char_rnn(text: str | None = None, *, path: str | os.PathLike | None = None,
                   epochs: int | None = None, minutes: float | None = None,
                   max_steps: int | None = None, batch_size: int = 32, bptt: int = 64,
                   lr: float = 2e-3, min_lr: float = 1e-4, embed_dim: int = 64,
                   hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.2,
                   clip: float = 5.0, val_fraction: float = 0.1, eval_every: int | None = None,
                   val_batch_size: int = 16, out: str | os.PathLike | None = None,
                   seed: int = 0, sample_length: int = 300, prime: str | None = None,
                   log: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Train a CharRNN on a text (given, or read from ``path``) and report validation loss.

    Stops after ``epochs`` passes, after ``minutes`` of training (the clock excludes the
    validation passes), or after ``max_steps`` batches - whichever comes first (at least one
    must be given). The learning rate decays from ``lr`` to ``min_lr`` along a cosine over the
    run (measured in steps, or in time for a ``minutes`` budget). The last ``val_fraction`` of the
    text is the validation split. With ``out``, writes ``out/char_rnn.safetensors``.

    Returns a dict: ``val_loss`` (nats/char), ``val_bpc`` (bits/char), ``train_loss`` (the mean
    of the last 100 batches), ``steps``, ``epochs`` (fractional), ``seconds`` (training only),
    ``history`` (list of evaluation records), ``sample`` (generated text), ``model``, ``vocab``.
    """
    if epochs is None and minutes is None and max_steps is None:
        raise ValueError("train_char_rnn: give a budget: epochs, minutes or max_steps")
    if text is None:
        if path is None:
            raise ValueError("train_char_rnn: give the text or a path to it")
        text = read_text(path)
    say = log or (lambda s: None)
    backend.manual_seed(seed)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    n_val = int(len(ids) * val_fraction)
    train_ids, val_ids = ids[:len(ids) - n_val], ids[len(ids) - n_val:]
    if n_val < 2 * val_batch_size:
        raise ValueError(f"train_char_rnn: the validation split ({n_val} characters) is too "
                         f"small; use a longer text or a larger val_fraction")
    batches = LMBatcher(train_ids, batch_size, bptt)
    model = CharRNN(len(vocab), embed_dim, hidden_size, num_layers, dropout)
    opt = optim.Adam(model.parameters(), lr=lr)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"char-rnn: {len(train_ids):,} training / {n_val:,} validation characters, "
        f"{len(vocab)} distinct; LSTM {num_layers}x{hidden_size}, {n_params:,} parameters; "
        f"{len(batches)} batches of {bptt}x{batch_size} per epoch")
    total_steps = (max_steps if max_steps is not None
                   else len(batches) * epochs if epochs is not None else None)
    eval_every = eval_every or len(batches)
    history: list[dict[str, float]] = []
    recent: list[float] = []
    step, seen, trained, stop = 0, 0, 0.0, False
    while not stop:
        hidden = None
        for x, y in batches:
            t0 = time.perf_counter()
            frac = max(step / total_steps if total_steps else 0.0,
                       trained / (60 * minutes) if minutes else 0.0)
            for g in opt.param_groups:
                g["lr"] = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(frac, 1)))
            hidden = detach_hidden(hidden)
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            trained += time.perf_counter() - t0
            step += 1
            seen += y.numel()
            recent = (recent + [float(loss.item())])[-100:]
            done = ((max_steps is not None and step >= max_steps)
                    or (minutes is not None and trained >= 60 * minutes)
                    or (epochs is not None and step >= len(batches) * epochs))
            if step % eval_every == 0 or done:
                val = evaluate_lm(model, val_ids, val_batch_size)
                rec = {"step": step, "epoch": step / len(batches), "seconds": trained,
                       "train_loss": float(np.mean(recent)), "val_loss": val,
                       "val_bpc": val / math.log(2), "lr": opt.param_groups[0]["lr"],
                       "chars_per_second": seen / trained}
                history.append(rec)
                say(f"step {step:6d}  epoch {rec['epoch']:5.2f}  {trained / 60:6.1f} min  "
                    f"train {rec['train_loss']:.3f}  val {val:.3f} nats/char "
                    f"({rec['val_bpc']:.3f} bits/char)  {seen / trained:,.0f} chars/s")
            if done:
                stop = True
                break
    if prime is None:  # start the sample at a line break, or the text's first character
        prime = "\n" if "\n" in vocab else text[0]
    sample = generate(model, vocab, prime, sample_length) if sample_length else ""
    result = {**history[-1], "steps": step, "epochs": step / len(batches), "history": history,
              "sample": sample, "model": model, "vocab": vocab, "config": model.config}
    if out is not None:
        os.makedirs(out, exist_ok=True)
        save_char_rnn(os.path.join(out, "char_rnn.safetensors"), model, vocab, opt,
                      history={"val_loss": [h["val_loss"] for h in history]},
                      val_loss=result["val_loss"], steps=step)
        say(f"wrote {os.path.join(out, 'char_rnn.safetensors')}")
    return result
