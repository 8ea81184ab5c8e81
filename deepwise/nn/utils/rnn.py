"""Batches of variable-length sequences: padding and PyTorch's ``PackedSequence``.

A padded batch is one (T, B, *) tensor (or (B, T, *) with ``batch_first``) plus the true length
of each sequence. A :class:`PackedSequence` stores only the real steps, time-major: first step 0
of every sequence (longest first), then step 1 of every sequence that has one, ... -
``batch_sizes[t]`` says how many sequences are still running at step t. Its fields are exactly
PyTorch's (``data``, ``batch_sizes``, ``sorted_indices``, ``unsorted_indices``), so code that
reads them works unchanged.

The recurrent layers (``nn.LSTM`` ...) accept a PackedSequence and return one; inside, they pad it
back and run over the padded batch with per-sequence lengths (the steps past a sequence's end
carry its state unchanged), which is the same computation. Every function here is differentiable
(gathers and concatenations of the data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ...ops import shape as _shape
from ...ops.index import GetItem
from ...tensor import Tensor

__all__ = [
    "PackedSequence", "pad_sequence", "unpad_sequence", "pack_padded_sequence",
    "pad_packed_sequence", "pack_sequence", "unpack_sequence", "detach_hidden",
]


class PackedSequence(NamedTuple):
    """The real steps of a batch of sequences, time-major, longest sequence first.

    Fields (PyTorch's):
        data: (sum(lengths), *) - step 0 of every sequence, then step 1 of those that have one...
        batch_sizes: (max_len,) int64 - how many sequences run at each step (non-increasing).
        sorted_indices: (B,) int64 or None - batch position of the k-th longest sequence
            (None when the batch was already sorted, ``enforce_sorted=True``).
        unsorted_indices: (B,) int64 or None - the inverse permutation.

    Make one with :func:`pack_padded_sequence` or :func:`pack_sequence`; undo it with
    :func:`pad_packed_sequence`.

    >>> import deepwise as dw
    >>> p = pack_sequence([dw.tensor([1.0, 2.0, 3.0]), dw.tensor([4.0])])
    >>> p.data.tolist(), p.batch_sizes.tolist()
    ([1.0, 4.0, 2.0, 3.0], [2, 1, 1])
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    @property
    def is_cuda(self) -> bool:
        return False

    def lengths(self) -> np.ndarray:
        """The length of each sequence, in the original batch order (a NumPy int64 array)."""
        bs = np.asarray(self.batch_sizes.data)
        sorted_len = (np.arange(int(bs[0]) if bs.size else 0)[:, None]
                      < bs[None, :]).sum(1) if bs.size else np.zeros(0, np.int64)
        if self.unsorted_indices is None:
            return sorted_len.astype(np.int64)
        return sorted_len[np.asarray(self.unsorted_indices.data)].astype(np.int64)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _lengths_array(lengths: Any, op: str) -> np.ndarray:
    ln = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if ln.ndim != 1 or (ln.size and ln.dtype.kind not in "iu"):
        raise ValueError(f"{op}: lengths must be a 1-D sequence of integers, got {ln.dtype} "
                         f"array of shape {ln.shape}")
    return ln.astype(np.int64)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths into one padded tensor.

    Shape: B tensors (L_i, *) -> (T, B, *) with T = max L_i, or (B, T, *) if ``batch_first``.
    ``padding_side='left'`` puts the padding before each sequence.

    >>> import deepwise as dw
    >>> pad_sequence([dw.ones(2, 3), dw.ones(4, 3)]).shape
    (4, 2, 3)
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    seqs = [_as_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
    rest = tuple(seqs[0].shape[1:])
    for k, s in enumerate(seqs):
        if s.ndim == 0 or tuple(s.shape[1:]) != rest:
            raise ValueError(f"pad_sequence: every sequence must be (L, *{rest}); sequence {k} "
                             f"has shape {tuple(s.shape)}")
    lens = np.array([s.shape[0] for s in seqs], np.int64)
    t = int(lens.max())
    dt = seqs[0].dtype
    pad_row = Tensor(np.full((1,) + rest, padding_value, dtype=dt))
    flat = _shape.cat(seqs + [pad_row], dim=0)  # all rows, then the padding row
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    step = np.arange(t)[None, :]  # (1, T)
    if padding_side == "right":
        pos = step
    else:
        pos = step - (t - lens)[:, None]
    valid = (pos >= 0) & (pos < lens[:, None])
    src = np.where(valid, starts[:, None] + pos, int(lens.sum()))  # (B, T) rows of flat
    if not batch_first:
        src = src.T
    return flat[src]


def unpad_sequence(padded_sequences: Tensor, lengths: Any,
                   batch_first: bool = False) -> list[Tensor]:
    """The inverse of :func:`pad_sequence`: a list of B tensors (L_i, *) (right padding)."""
    ln = _lengths_array(lengths, "unpad_sequence")
    x = padded_sequences if batch_first else _shape.transpose(padded_sequences, 0, 1)
    return [x[i, :int(n)] for i, n in enumerate(ln)]


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch: keep only each sequence's first ``lengths[b]`` steps.

    Shape: input (T, B, *) or (B, T, *) with ``batch_first``; lengths (B,) -> a PackedSequence
    with data (sum(lengths), *). ``enforce_sorted=True`` requires lengths in decreasing order
    (``sorted_indices`` is then None); pass False to let it sort (the original order comes back
    from :func:`pad_packed_sequence` and in the layers' outputs).

    >>> import deepwise as dw
    >>> p = pack_padded_sequence(dw.zeros(5, 3, 2), [5, 2, 1])
    >>> p.data.shape, p.batch_sizes.tolist()
    ((8, 2), [3, 2, 1, 1, 1])
    """
    x = _as_tensor(input)
    ln = _lengths_array(lengths, "pack_padded_sequence")
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be (T, B, *) or (B, T, *), got "
                         f"shape {tuple(x.shape)}")
    t, b = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if ln.shape != (b,):
        raise ValueError(f"pack_padded_sequence: expected {b} lengths (the batch size of input "
                         f"{tuple(x.shape)}), got {ln.size}")
    if b and (ln.min() <= 0):
        raise ValueError("pack_padded_sequence: the length of every sequence must be greater "
                         f"than 0, got lengths {ln.tolist()}")
    if b and ln.max() > t:
        raise ValueError(f"pack_padded_sequence: a length of {ln.max()} exceeds the padded "
                         f"length {t} of input {tuple(x.shape)}")
    if enforce_sorted:
        if np.any(np.diff(ln) > 0):
            raise ValueError(
                f"pack_padded_sequence: `lengths` must be sorted in decreasing order when "
                f"enforce_sorted=True, got {ln.tolist()}; pass enforce_sorted=False to sort it")
        order, sorted_idx, unsorted_idx = np.arange(b), None, None
    else:
        order = np.argsort(-ln, kind="stable")  # PyTorch's order (a stable descending sort)
        sorted_idx = Tensor(order.astype(np.int64))
        unsorted_idx = Tensor(np.argsort(order).astype(np.int64))
    sl = ln[order]
    steps, cols = np.nonzero(np.arange(int(sl[0]) if b else 0)[:, None] < sl[None, :])
    seq = order[cols]
    rows = seq * t + steps if batch_first else steps * b + seq
    flat = _shape.reshape(x, (t * b,) + tuple(x.shape[2:]))
    data = GetItem.apply(flat, index=rows, unique=True)
    batch_sizes = np.bincount(steps, minlength=int(sl[0]) if b else 0).astype(np.int64)
    return PackedSequence(data, Tensor(batch_sizes), sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: (padded, lengths), in the original batch order.

    Shape: data (N, *) -> padded (T, B, *) or (B, T, *) with ``batch_first``, T = the longest
    length or ``total_length``; lengths (B,) int64.
    """
    data, bs = sequence.data, np.asarray(sequence.batch_sizes.data).astype(np.int64)
    b = int(bs[0]) if bs.size else 0
    max_len = bs.size
    t = max_len if total_length is None else int(total_length)
    if t < max_len:
        raise ValueError(f"pad_packed_sequence: expected total_length to be at least the length "
                         f"of the longest sequence ({max_len}), got total_length={t}")
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]])  # where step t starts in data
    j = np.arange(b)  # rank of each sequence in the sorted order
    if sequence.unsorted_indices is not None:
        j = np.asarray(sequence.unsorted_indices.data)
    step = np.arange(t)[:, None]
    valid = step < max_len
    valid = valid & (j[None, :] < np.where(valid, bs[np.minimum(step, max_len - 1)], 0))
    n = int(data.shape[0])
    src = np.where(valid, offsets[np.minimum(step, max_len - 1)] + j[None, :], n)  # (T, B)
    if batch_first:
        src = src.T
    pad_row = Tensor(np.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    padded = _shape.cat([data, pad_row], dim=0)[src]
    lengths = sequence.lengths() if b else np.zeros(0, np.int64)
    return padded, Tensor(lengths)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) directly (``pad_sequence`` then ``pack_padded_sequence``).

    >>> import deepwise as dw
    >>> pack_sequence([dw.ones(3, 2), dw.ones(1, 2)]).batch_sizes.tolist()
    [2, 1, 1]
    """
    lens = [int(_as_tensor(s).shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lens, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of :func:`pack_sequence`: the list of tensors (L_i, *), original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def detach_hidden(hidden: Any) -> Any:
    """Cut the graph behind a recurrent state (a Tensor, or an LSTM's ``(h, c)``): the values
    carry on into the next batch, the gradients do not (truncated BPTT)."""
    if hidden is None:
        return None
    if isinstance(hidden, Tensor):
        return hidden.detach()
    return tuple(detach_hidden(h) for h in hidden)
