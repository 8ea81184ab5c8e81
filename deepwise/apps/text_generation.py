"""Text generation: a character-level LSTM reads a text one character at a time, learns to
predict the next one, then writes new text by sampling from its predictions (Karpathy's char-rnn).

The parts, in the order they run:

* ``models.CharRNN``: Embedding -> multi-layer LSTM -> Linear over the characters.
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

Commands::

    deepwise train char-rnn --text input.txt --minutes 20 --out runs/char
    deepwise generate runs/char/char_rnn.safetensors --prime "ROMEO:" --length 500
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, models, nn, optim
from ..autograd import no_grad
from ..data.text import CharVocab, LMBatcher, UnknownTokenError, read_text
from ..io import atomic_write, save_model
from ..models import CharRNN
from ..nn import functional as F
from ..nn.utils.rnn import detach_hidden
from ..tensor import Tensor
from ._commands import register, train_parsers

__all__ = ["generate", "sample_next", "train_char_rnn", "evaluate_lm", "save_char_rnn",
           "load_char_rnn", "add_commands"]


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
    """The checkpoint: config + vocabulary + (optimizer) + weights, in one safetensors file."""
    save_model(path, model, {"model": "char-rnn", **model.config}, optimizer,
               vocab=vocab.to_dict(), **extra)


def load_char_rnn(path: str | os.PathLike) -> tuple[CharRNN, CharVocab, dict[str, Any]]:
    """Rebuild ``(model, vocab, checkpoint)`` from a file written by :func:`save_char_rnn`."""
    model, ckpt = models.load(path, expected="char-rnn", needs=("vocab",),
                              writer="deepwise train char-rnn")
    vocab = CharVocab.from_dict(ckpt["vocab"], f"load_char_rnn('{os.fspath(path)}')")
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


# --------------------------------------------------------------------------------------------
# commands


def cmd_train(args: argparse.Namespace) -> int:
    """Train a character-level LSTM language model on a text file (truncated BPTT, Adam)."""
    if args.epochs is None and args.minutes is None and args.max_steps is None:
        args.epochs = 1
    result = train_char_rnn(
        path=args.text, epochs=args.epochs, minutes=args.minutes, max_steps=args.max_steps,
        batch_size=args.batch_size, bptt=args.bptt, lr=args.lr, embed_dim=args.embed,
        hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout,
        clip=args.clip, eval_every=args.eval_every, out=args.out, seed=args.seed,
        sample_length=args.sample_length, log=None if args.quiet else print)
    print(f"validation loss {result['val_loss']:.4f} nats/char ({result['val_bpc']:.4f} "
          f"bits/char) after {result['steps']} steps ({result['epochs']:.2f} epochs, "
          f"{result['seconds'] / 60:.1f} min of training)")
    if result["sample"]:
        print("--- sample ---")
        print(result["sample"])
    if args.out:
        metrics = {k: v for k, v in result.items() if k not in ("model", "vocab", "sample")}
        with atomic_write(os.path.join(args.out, "metrics.json")) as f:
            json.dump(metrics, f, indent=2)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Write text with a trained char-RNN checkpoint, starting from a prime string."""
    model, vocab, _ = load_char_rnn(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    print(generate(model, vocab, args.prime, args.length, temperature=args.temperature,
                   top_k=args.top_k, generator=rng))
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train char-rnn`` and ``deepwise generate``."""
    d = argparse.ArgumentDefaultsHelpFormatter
    p = train_parsers(subparsers).add_parser(
        "char-rnn", help="train a character-level LSTM language model",
        description=cmd_train.__doc__ + " Give a budget with --epochs, --minutes or "
        "--max-steps (default: 1 epoch).", formatter_class=d)
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
    register(p, cmd_train)

    g = subparsers.add_parser("generate", help="sample text from a trained char-RNN checkpoint",
                              description=cmd_generate.__doc__, formatter_class=d)
    g.add_argument("checkpoint", help="a char_rnn.safetensors file from 'train char-rnn'")
    g.add_argument("--prime", default="\n", help="the text to start from")
    g.add_argument("--length", type=int, default=500, help="characters to generate")
    g.add_argument("--temperature", type=float, default=0.8,
                   help="<1: safer, >1: more surprising; 0: always the most likely character")
    g.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely only")
    g.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    register(g, cmd_generate)
