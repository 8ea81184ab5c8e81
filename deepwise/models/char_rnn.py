"""A character-level language model (Karpathy's char-rnn): Embedding -> LSTM -> Linear over the
characters, predicting each next character of a text.

The application around it (truncated-BPTT training, sampling, generation, the checkpoint with the
vocabulary, the commands) is ``deepwise/apps/text_generation.py``.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..tensor import Tensor
from .errors import SequenceTooLongError

__all__ = ["CharRNN"]


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
