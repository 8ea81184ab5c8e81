"""A sentence classifier: words -> embeddings -> (bi-directional) LSTM/GRU over the real words
only (masked by lengths) -> max / mean / last pooling -> classes.

The application around it (reading labelled sentences, training with word dropout and early
stopping, cross-validation, prediction, the checkpoint with the vocabulary, the commands) is
``deepwise/apps/sentiment.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from ..tensor import Tensor
from .errors import SequenceTooLongError

__all__ = ["SentimentRNN", "POOLINGS"]

POOLINGS = ("max", "mean", "last")


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
