"""Acoustic models for speech: word classifiers over a whole clip, and a frame-wise CTC model for
strings of words.

Clips differ in length, so a batch is padded to its longest clip and every model takes the
true ``lengths`` (in frames): the pooling over time looks at a clip's own frames only, and the
recurrent layers run each clip for exactly its own number of steps (``nn.GRU(lengths=)``).

* :class:`SpeechCNN` - a log-mel spectrogram is an image (mel bands x frames): conv-BN-ReLU-pool
  blocks, then the mean over frequency and over the clip's valid frames, then a linear layer.
* :class:`SpeechGRU` - MFCC frames read by a bidirectional GRU, its outputs averaged over the
  valid frames, then a linear layer.
* :class:`CTCSpeechModel` - a strided 1-D convolution (halving the frame rate) and a stacked
  bidirectional GRU emitting, at every output frame, log-probabilities over the labels plus a
  blank (id 0), for :func:`deepwise.nn.functional.ctc_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import nn
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["SpeechCNN", "SpeechGRU", "CTCSpeechModel", "time_mask"]


def time_mask(lengths: Any, t: int, dtype: Any = np.float32) -> np.ndarray:
    """``(N, t)`` 1.0 at each sequence's valid frames (``frame < length``), 0.0 after."""
    ln = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths).reshape(-1)
    return (np.arange(t)[None, :] < ln[:, None]).astype(dtype)


def segment_weights(lengths: Any, t: int, segments: int, dtype: Any = np.float32
                    ) -> np.ndarray:
    """``(N, t, segments)`` averaging weights: column ``k`` of sequence ``n`` is ``1 / size``
    on the frames of the k-th of ``segments`` equal parts of its ``length`` valid frames (a
    part shorter than one frame takes the nearest frame)."""
    ln = np.maximum(np.asarray(lengths).reshape(-1), 1)
    frames = np.arange(t)[None, :, None]
    lo = np.floor(ln[:, None, None] * np.arange(segments)[None, None, :] / segments)
    hi = np.maximum(np.floor(ln[:, None, None] * (np.arange(segments) + 1)[None, None, :]
                             / segments), lo + 1)
    w = ((frames >= lo) & (frames < hi)).astype(dtype)
    return w / w.sum(axis=1, keepdims=True)


def _masked_mean(x: Tensor, lengths: Any, axis: int) -> Tensor:
    """Mean of ``x`` over ``axis`` (time) counting only the valid frames of each sequence
    (batch axis 0): ``sum_t m_t x_t / sum_t m_t``."""
    t = x.shape[axis]
    m = time_mask(np.clip(np.asarray(lengths), 1, t), t, x.dtype)   # (N, T)
    shape = [1] * x.ndim
    shape[0], shape[axis] = m.shape
    m = m.reshape(shape)
    return (x * Tensor(m)).sum(dim=axis) / Tensor(m.sum(axis=axis))


class SpeechCNN(nn.Module):
    """[Conv 3x3 (pad 1) -> BatchNorm -> ReLU -> MaxPool 2] per entry of ``channels`` -> the
    mean over each of ``segments`` equal parts of the clip's valid frames (a coarse "beginning,
    middle, end" that one mean over time would lose), every channel and mel band kept (a mean
    over frequency would make the network blind to where the formants are) -> Dropout ->
    Linear(channels[-1] * (n_mels // 2 ** len(channels)) * segments, num_classes).

    After each block the frames past each clip's (halved) length are set back to 0 - what the
    convolution's own zero padding gives a clip alone - so in eval mode a clip's output does
    not depend on what it was batched with.

    Shape: input (N, 1, n_mels, T) log-mel spectrograms (padded to T), ``lengths`` (N,) frames;
    output (N, num_classes) logits.

    >>> import deepwise
    >>> SpeechCNN(n_mels=40)(deepwise.zeros(2, 1, 40, 30), lengths=[30, 12]).shape
    (2, 10)
    """

    def __init__(self, n_mels: int = 40, num_classes: int = 10,
                 channels: Sequence[int] = (32, 64, 128), dropout: float = 0.3,
                 segments: int = 4) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if not channels or int(n_mels) < 2 ** len(channels):
            raise ValueError(f"SpeechCNN: {len(channels)} blocks halve the {n_mels} mel bands "
                             f"{len(channels)} times; give more mel bands or fewer blocks")
        self.config = {"n_mels": int(n_mels), "num_classes": int(num_classes),
                       "channels": channels, "dropout": float(dropout),
                       "segments": int(segments)}
        blocks: list[nn.Module] = []
        width = 1
        for c in channels:
            blocks.append(nn.Sequential(nn.Conv2d(width, c, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)))
            width = c
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        bands = int(n_mels) // 2 ** len(channels)
        self.fc = nn.Linear(width * bands * int(segments), int(num_classes))
        self.stride = 2 ** len(channels)

    def forward(self, x: Tensor, lengths: Any = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != self.config["n_mels"]:
            raise ValueError(f"SpeechCNN: expected log-mel input (N, 1, {self.config['n_mels']}, "
                             f"T), got shape {tuple(x.shape)}")
        if x.shape[3] < self.stride:
            raise ValueError(f"SpeechCNN: clips need at least {self.stride} frames (the pools "
                             f"halve time {len(self.config['channels'])} times), got "
                             f"{x.shape[3]}")
        n = x.shape[0]
        ln = np.full(n, x.shape[3]) if lengths is None else np.asarray(lengths).reshape(-1)
        h = x
        for block in self.blocks:
            h = block(h)
            ln = ln // 2
            if ln.min() < h.shape[3]:  # padded frames back to 0, as the conv's own padding
                h = h * Tensor(time_mask(ln, h.shape[3], h.dtype)[:, None, None, :])
        w = segment_weights(np.minimum(ln, h.shape[3]), h.shape[3], self.config["segments"],
                            h.dtype)
        h = h.flatten(1, 2) @ Tensor(w)                       # (N, C * F', segments)
        return self.fc(self.dropout(h.flatten(1)))


class SpeechGRU(nn.Module):
    """(Bi)GRU over feature frames -> mean of its outputs over the valid frames -> Dropout ->
    Linear(num_classes).

    Shape: input (N, T, n_features) (padded), ``lengths`` (N,); output (N, num_classes).

    >>> import deepwise
    >>> SpeechGRU(n_features=13, hidden_size=16)(deepwise.zeros(2, 9, 13), [9, 4]).shape
    (2, 10)
    """

    def __init__(self, n_features: int = 13, num_classes: int = 10, hidden_size: int = 128,
                 num_layers: int = 2, bidirectional: bool = True, dropout: float = 0.3) -> None:
        super().__init__()
        self.config = {"n_features": int(n_features), "num_classes": int(num_classes),
                       "hidden_size": int(hidden_size), "num_layers": int(num_layers),
                       "bidirectional": bool(bidirectional), "dropout": float(dropout)}
        self.gru = nn.GRU(int(n_features), int(hidden_size), num_layers=int(num_layers),
                          batch_first=True, bidirectional=bool(bidirectional),
                          dropout=float(dropout) if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(int(hidden_size) * (2 if bidirectional else 1), int(num_classes))

    def forward(self, x: Tensor, lengths: Any = None) -> Tensor:
        n, t = x.shape[0], x.shape[1]
        ln = np.full(n, t) if lengths is None else np.asarray(lengths).reshape(-1)
        out, _ = self.gru(x, lengths=ln)                      # (N, T, D*H), 0 after each length
        return self.fc(self.dropout(_masked_mean(out, ln, axis=1)))


class CTCSpeechModel(nn.Module):
    """Conv1d(k=5, stride 2) -> BatchNorm -> ReLU [-> the same again, ``subsample=4``] ->
    (Bi)GRU x num_layers -> Dropout ->
    Linear(num_labels + 1) -> log_softmax: per-frame log-probabilities, blank = 0, label ``k``
    at id ``k + 1``.

    ``forward(x, lengths)`` returns ``(log_probs (T', N, num_labels + 1), out_lengths)``, the
    layout ``ctc_loss`` takes, with ``T' = ceil(T / 2)`` (``ceil(ceil(T / 2) / 2)``).

    >>> import deepwise
    >>> lp, ln = CTCSpeechModel(n_features=13, hidden_size=16)(deepwise.zeros(2, 9, 13), [9, 4])
    >>> lp.shape, ln.tolist()
    ((5, 2, 11), [5, 2])
    """

    def __init__(self, n_features: int = 40, num_labels: int = 10, channels: int = 128,
                 hidden_size: int = 128, num_layers: int = 2, bidirectional: bool = True,
                 dropout: float = 0.2, subsample: int = 2) -> None:
        super().__init__()
        if subsample not in (2, 4):
            raise ValueError(f"CTCSpeechModel: subsample must be 2 or 4 (one or two stride-2 "
                             f"convolutions), got {subsample!r}")
        self.config = {"n_features": int(n_features), "num_labels": int(num_labels),
                       "channels": int(channels), "hidden_size": int(hidden_size),
                       "num_layers": int(num_layers), "bidirectional": bool(bidirectional),
                       "dropout": float(dropout), "subsample": int(subsample)}
        self.conv = nn.Conv1d(int(n_features), int(channels), 5, stride=2, padding=2,
                              bias=False)
        self.bn = nn.BatchNorm1d(int(channels))
        if subsample == 4:
            self.conv2 = nn.Conv1d(int(channels), int(channels), 5, stride=2, padding=2,
                                   bias=False)
            self.bn2 = nn.BatchNorm1d(int(channels))
        self.gru = nn.GRU(int(channels), int(hidden_size), num_layers=int(num_layers),
                          batch_first=True, bidirectional=bool(bidirectional),
                          dropout=float(dropout) if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(int(hidden_size) * (2 if bidirectional else 1), int(num_labels) + 1)

    def output_lengths(self, lengths: Any) -> np.ndarray:
        """Frames after each stride-2 convolution: ``ceil(T / 2)`` (twice if subsample=4)."""
        ln = (np.asarray(lengths).reshape(-1) + 1) // 2
        return (ln + 1) // 2 if self.config["subsample"] == 4 else ln

    def forward(self, x: Tensor, lengths: Any = None) -> tuple[Tensor, np.ndarray]:
        if x.ndim != 3 or x.shape[2] != self.config["n_features"]:
            raise ValueError(f"CTCSpeechModel: expected features (N, T, "
                             f"{self.config['n_features']}), got shape {tuple(x.shape)}")
        n, t = x.shape[0], x.shape[1]
        ln_in = np.full(n, t) if lengths is None else np.asarray(lengths).reshape(-1)
        ln = self.output_lengths(ln_in)
        h = F.relu(self.bn(self.conv(x.transpose(1, 2))))     # (N, C, ceil(T / 2))
        if self.config["subsample"] == 4:
            half = (ln_in + 1) // 2
            if half.min() < h.shape[2]:  # padded frames back to 0 before the next convolution
                h = h * Tensor(time_mask(half, h.shape[2], h.dtype)[:, None, :])
            h = F.relu(self.bn2(self.conv2(h)))                 # (N, C, T')
        out, _ = self.gru(h.transpose(1, 2), lengths=ln)        # (N, T', D*H)
        logits = self.fc(self.dropout(out))
        return F.log_softmax(logits.transpose(0, 1), dim=2), ln
