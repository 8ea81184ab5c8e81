"""Text: read files safely, tokenize, map tokens to ids, and batch them for language models and
classifiers.

The pieces, in the order a text pipeline uses them::

    text = read_text("input.txt")                 # clear errors: empty / binary / not UTF-8
    vocab = CharVocab.from_text(text)              # characters -> ids (char-RNN)
    ids = vocab.encode(text)                       # (N,) int64, vectorised
    for x, y in lm_batches(ids, batch_size=32, bptt=64):   # x, y: (64, 32); y is x shifted by 1
        ...

    tokens = [tokenize(s) for s in sentences]      # "Great phone!" -> ['great', 'phone', '!']
    vocab = Vocab(tokens, min_freq=2)              # words -> ids, <pad>=0 <unk>=1 <bos>=2 <eos>=3
    seqs = [vocab.encode(t) for t in tokens]
    for idx in BucketSampler([len(s) for s in seqs], batch_size=32, shuffle=True):
        x, lengths = pad_batch([seqs[i] for i in idx])    # x: (B, T_max), lengths: (B,)

Vocabularies save and load as JSON (``vocab.save(path)`` / ``Vocab.load(path)``), written
atomically, so a checkpoint can carry the exact mapping it was trained with.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["TextFileError", "UnknownTokenError", "read_text", "read_labelled_lines", "tokenize",
           "Vocab", "CharVocab", "LMBatcher", "lm_batches", "pad_batch", "BucketSampler",
           "bucket_batches"]

DEFAULT_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
_VOCAB_FORMAT = "deepwise.vocab"


class TextFileError(ValueError):
    """A text file that cannot be used: empty, binary (NUL bytes), or not valid UTF-8.
    The message names the file and, for bad bytes, the byte offset."""


class UnknownTokenError(ValueError):
    """A token (or character) that is not in the vocabulary, where no ``<unk>`` may stand in."""


# --------------------------------------------------------------------------------------------
# reading files


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a whole text file, refusing files that would silently train on garbage.

    Raises:
        FileNotFoundError: no such file (the path is named).
        TextFileError: the file is empty (or only whitespace); it holds a NUL byte (a binary
            file: the offset of the first one is named); it is not valid ``encoding`` (the
            offset and value of the first bad byte are named).

    >>> text = read_text("tinyshakespeare/input.txt")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_text: no such file: '{path}'")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise TextFileError(f"read_text: '{path}' is empty ({len(raw)} bytes"
                            f"{', all whitespace' if raw else ''}); a text file with content is "
                            "needed")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise TextFileError(f"read_text: '{path}' looks like a binary file, not text: it has a NUL "
                            f"byte at byte offset {nul}")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise TextFileError(f"read_text: '{path}' is not valid {encoding.upper()} text: byte "
                            f"0x{raw[e.start]:02x} at byte offset {e.start} cannot be decoded "
                            f"({e.reason}); re-save the file as {encoding.upper()}") from None


def read_labelled_lines(path: str | os.PathLike, sep: str = "\t") -> tuple[list[str], np.ndarray]:
    """Read ``text<sep>label`` lines (the label after the LAST ``sep``), skipping blank lines.

    Returns ``(texts, labels)`` with ``labels`` an int64 array. A line without ``sep`` or with a
    label that is not an integer raises TextFileError naming the file and the line number.
    """
    texts: list[str] = []
    labels: list[int] = []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        text, found, label = line.rpartition(sep)
        if not found:
            raise TextFileError(f"read_labelled_lines: '{os.fspath(path)}' line {lineno}: no "
                                f"{sep!r} separator between text and label: {line[:60]!r}")
        try:
            labels.append(int(label.strip()))
        except ValueError:
            raise TextFileError(f"read_labelled_lines: '{os.fspath(path)}' line {lineno}: the "
                                f"label {label.strip()!r} is not an integer") from None
        texts.append(text.strip())
    return texts, np.array(labels, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# tokenizing

# a word (letters/digits/underscore, with inner apostrophes: "don't", "o'clock"), or any single
# character that is neither a word character nor whitespace (punctuation: "!", ",", "(" ...)
_TOKEN_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split text into lower-cased word and punctuation tokens.

    >>> tokenize("Great phone -- I don't regret it!")
    ['great', 'phone', '-', '-', 'i', "don't", 'regret', 'it', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize: expected a str, got {type(text).__name__}")
    return _TOKEN_RE.findall(text.lower())


# --------------------------------------------------------------------------------------------
# vocabularies


def _count(counter_or_tokens: Any) -> collections.Counter:
    """A Counter from a Counter/dict of counts, an iterable of tokens, or of token lists."""
    if isinstance(counter_or_tokens, collections.abc.Mapping):
        return collections.Counter(dict(counter_or_tokens))
    if isinstance(counter_or_tokens, str):
        raise TypeError("Vocab: got a str; pass tokens (tokenize(text)) or a list of token lists, "
                        "or use CharVocab.from_text for characters")
    counter: collections.Counter = collections.Counter()
    for item in counter_or_tokens:
        if isinstance(item, str):
            counter[item] += 1
        else:
            counter.update(item)
    return counter


class Vocab:
    """A token <-> id mapping: specials first, then tokens by falling frequency (ties in
    alphabetical order, so the same data always gives the same ids).

    Args:
        counter_or_tokens: a ``Counter``/dict of counts, an iterable of tokens, or an iterable of
            token lists (one per sentence).
        min_freq: keep tokens seen at least this often.
        max_size: keep at most this many (most frequent) tokens, not counting the specials.
        specials: tokens placed first, in this order (``<pad>`` = 0 by default). When
            ``'<unk>'`` is among them, unknown tokens encode to it; otherwise they raise.

    ``stoi`` (dict token -> id) and ``itos`` (list id -> token) are the mapping itself.

    >>> v = Vocab([["a", "b", "a"], ["c", "a"]])
    >>> v.itos
    ['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'b', 'c']
    >>> v.encode(["a", "zebra"]).tolist()
    [4, 1]
    """

    kind = "word"

    def __init__(self, counter_or_tokens: Any = (), min_freq: int = 1, max_size: int | None = None,
                 specials: Sequence[str] = DEFAULT_SPECIALS) -> None:
        if min_freq < 1:
            raise ValueError(f"Vocab: min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"Vocab: max_size must be >= 0 or None, got {max_size}")
        specials = list(specials)
        if len(set(specials)) != len(specials):
            raise ValueError(f"Vocab: specials must be distinct, got {specials}")
        counter = _count(counter_or_tokens)
        words = sorted((t for t, c in counter.items() if c >= min_freq and t not in specials),
                       key=lambda t: (-counter[t], t))
        if max_size is not None:
            words = words[:max_size]
        self._set(specials + words, specials)

    def _set(self, itos: list[str], specials: list[str]) -> None:
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = [t for t, c in collections.Counter(self.itos).items() if c > 1]
            raise ValueError(f"{type(self).__name__}: duplicate tokens {dup[:5]}")
        self.specials: list[str] = list(specials)

    # ---- the special ids --------------------------------------------------------------------
    def _special(self, token: str) -> int | None:
        return self.stoi.get(token) if token in self.specials else None

    @property
    def pad_index(self) -> int | None:
        return self._special("<pad>")

    @property
    def unk_index(self) -> int | None:
        return self._special("<unk>")

    @property
    def bos_index(self) -> int | None:
        return self._special("<bos>")

    @property
    def eos_index(self) -> int | None:
        return self._special("<eos>")

    # ---- mapping ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (``<unk>``'s id for an unknown token, if there is an ``<unk>``)."""
        return self.lookup(token, strict=False)

    def lookup(self, token: str, strict: bool = False, where: str = "") -> int:
        i = self.stoi.get(token)
        if i is not None:
            return i
        if not strict and self.unk_index is not None:
            return self.unk_index
        self._unknown(token, where)

    def _unknown(self, token: str, where: str) -> None:
        shown = ", ".join(repr(t) for t in self.itos[:12])
        why = "strict=True" if self.unk_index is not None else "this vocabulary has no '<unk>'"
        raise UnknownTokenError(
            f"{type(self).__name__}.encode: unknown token {token!r}{where} ({why}); the "
            f"vocabulary has {len(self)} tokens: {shown}{', ...' if len(self) > 12 else ''}")

    def encode(self, tokens: Iterable[str], strict: bool = False) -> np.ndarray:
        """Token ids, ``(len(tokens),)`` int64. Unknown tokens become ``<unk>``, or raise
        UnknownTokenError naming the token and its position when ``strict=True`` (or when the
        vocabulary has no ``<unk>``)."""
        if isinstance(tokens, str):
            raise TypeError("Vocab.encode: got a str; pass a list of tokens (tokenize(text))")
        tokens = list(tokens)
        return np.array([self.lookup(t, strict, f" at position {k}") for k, t in enumerate(tokens)],
                        dtype=np.int64).reshape(len(tokens))

    def decode(self, ids: Any) -> list[str]:
        """Tokens for ``ids`` (a list, array or Tensor of ints); an id out of range raises."""
        arr = np.asarray(ids.data if isinstance(ids, Tensor) else ids, dtype=np.int64).reshape(-1)
        bad = (arr < 0) | (arr >= len(self))
        if bad.any():
            raise IndexError(f"{type(self).__name__}.decode: id {int(arr[bad][0])} is out of range "
                             f"for a vocabulary of {len(self)} tokens")
        return [self.itos[i] for i in arr.tolist()]

    # ---- saving -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": _VOCAB_FORMAT, "version": 1, "kind": self.kind, "itos": self.itos,
                "specials": self.specials}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "Vocab.from_dict") -> Vocab:
        if not isinstance(d, dict) or d.get("format") != _VOCAB_FORMAT or "itos" not in d:
            raise ValueError(f"{where}: not a deepwise vocabulary (expected a JSON object with "
                             f"format '{_VOCAB_FORMAT}' and 'itos')")
        kind = d.get("kind", "word")
        target = {"word": Vocab, "char": CharVocab}.get(kind)
        if target is None:
            raise ValueError(f"{where}: unknown vocabulary kind {kind!r}")
        if cls is not Vocab and target is not cls:
            raise ValueError(f"{where}: the file holds a {target.__name__}, not a {cls.__name__}")
        v = object.__new__(target)
        v._set(list(d["itos"]), list(d.get("specials", [])))
        return v

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: a temporary file renamed over ``path``)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a vocabulary written by :meth:`save` (a CharVocab comes back as a CharVocab)."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{cls.__name__}.load: '{path}' is not a JSON vocabulary ({e})") \
                from None
        return cls.from_dict(d, f"{cls.__name__}.load('{path}')")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocab) and type(other) is type(self)
                and other.itos == self.itos and other.specials == self.specials)

    __hash__ = None  # mutable-looking container: not hashable

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)}, specials={self.specials})"


class CharVocab(Vocab):
    """A character vocabulary: ``encode(str) -> ids`` and ``decode(ids) -> str``, vectorised with
    NumPy (a 1 MB text encodes in milliseconds). No specials by default, as in char-rnn, so an
    unknown character raises UnknownTokenError naming it and its position.

    >>> v = CharVocab.from_text("hello")
    >>> v.itos, v.encode("ole").tolist(), v.decode([3, 1])
    (['e', 'h', 'l', 'o'], [3, 2, 0], 'oh')
    """

    kind = "char"

    def __init__(self, chars: Iterable[str] = (), specials: Sequence[str] = ()) -> None:
        chars = sorted(set(chars) - set(specials))
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"CharVocab: every entry must be one character, got {c!r}")
        self._set(list(specials) + chars, list(specials))

    @classmethod
    def from_text(cls, text: str, specials: Sequence[str] = ()) -> CharVocab:
        """The sorted set of characters in ``text`` (plus ``specials`` first)."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.from_text: expected a str, got {type(text).__name__}")
        return cls(set(text), specials)

    def _set(self, itos: list[str], specials: list[str]) -> None:
        super()._set(itos, specials)
        # sorted code points and their ids, for a vectorised lookup by binary search
        pairs = sorted((ord(c), i) for i, c in enumerate(itos) if len(c) == 1)
        self._codes = np.array([p[0] for p in pairs], dtype=np.uint32)
        self._ids = np.array([p[1] for p in pairs], dtype=np.int64)

    def encode(self, text: str, strict: bool = False) -> np.ndarray:  # type: ignore[override]
        """Character ids of ``text``, ``(len(text),)`` int64."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode: expected a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if len(self._codes) == 0:
            pos = np.zeros(len(codes), dtype=np.int64)
            found = np.zeros(len(codes), dtype=bool)
        else:
            pos = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
            found = self._codes[pos] == codes
        ids = self._ids[pos] if len(self._ids) else pos
        if not found.all():
            k = int(np.argmin(found))
            if strict or self.unk_index is None:
                shown = "".join(c for c in self.itos if len(c) == 1)
                raise UnknownTokenError(
                    f"CharVocab.encode: unknown character {text[k]!r} at position {k} (the "
                    f"vocabulary has {len(self)} characters: {shown!r})")
            ids = np.where(found, ids, self.unk_index)
        return ids

    def decode(self, ids: Any) -> str:  # type: ignore[override]
        return "".join(super().decode(ids))


# --------------------------------------------------------------------------------------------
# language-model batches


def _positive_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


class LMBatcher:
    """Batches for a language model with truncated backpropagation through time.

    The id stream is cut into ``batch_size`` contiguous streams (the tail that does not fill a
    column is dropped), laid side by side as ``(n, batch_size)``; batch ``k`` is the rows
    ``[k*bptt, k*bptt + bptt)`` as input and the same rows shifted one step as targets. Column
    ``b`` of batch ``k+1`` continues column ``b`` of batch ``k``, which is what lets a model carry
    its hidden state from one batch to the next (as PyTorch's word_language_model does).

    Args:
        ids: ``(N,)`` token ids.
        batch_size: parallel streams B.
        bptt: time steps per batch T (the last batch may be shorter).
        batch_first: yield ``(B, T)`` instead of ``(T, B)``.

    Shape: each item is ``(x, y)``, int64 Tensors of shape ``(T, B)`` (``(B, T)`` with
    ``batch_first``), ``y[t] = `` the token after ``x[t]``.

    >>> xb, yb = next(iter(LMBatcher(np.arange(10), batch_size=2, bptt=3)))
    >>> xb.tolist(), yb.tolist()
    ([[0, 5], [1, 6], [2, 7]], [[1, 6], [2, 7], [3, 8]])
    """

    def __init__(self, ids: Any, batch_size: int, bptt: int, batch_first: bool = False) -> None:
        arr = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(f"LMBatcher: ids must be a 1-D integer array, got shape {arr.shape} "
                             f"dtype {arr.dtype}")
        self.batch_size = _positive_int("batch_size", batch_size, "LMBatcher")
        self.bptt = _positive_int("bptt", bptt, "LMBatcher")
        n = len(arr) // self.batch_size
        if n < 2:
            raise ValueError(f"LMBatcher: {len(arr)} tokens are too few for batch_size "
                             f"{self.batch_size}: each stream needs at least 2 tokens")
        # (B, n) rows are contiguous streams; transposed to time-major (n, B)
        self.data = np.ascontiguousarray(arr[:n * self.batch_size].astype(np.int64, copy=False)
                                         .reshape(self.batch_size, n).T)
        self.batch_first = bool(batch_first)

    def __len__(self) -> int:
        return math.ceil((len(self.data) - 1) / self.bptt)

    @property
    def tokens_per_epoch(self) -> int:
        """The number of predicted targets in one pass (``(n - 1) * B``)."""
        return (len(self.data) - 1) * self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.data)
        for i in range(0, n - 1, self.bptt):
            t = min(self.bptt, n - 1 - i)
            x, y = self.data[i:i + t], self.data[i + 1:i + 1 + t]
            if self.batch_first:
                x, y = x.T, y.T
            yield Tensor._make(x), Tensor._make(y)

    def __repr__(self) -> str:
        return (f"LMBatcher(streams={self.batch_size}, steps={len(self.data)}, bptt={self.bptt}, "
                f"batches={len(self)})")


def lm_batches(ids: Any, batch_size: int, bptt: int,
               batch_first: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
    """Iterate over ``LMBatcher(ids, batch_size, bptt, batch_first)``: ``(x, y)`` of ``(T, B)``."""
    return iter(LMBatcher(ids, batch_size, bptt, batch_first))


# --------------------------------------------------------------------------------------------
# padding and bucketing for classification


def pad_batch(sequences: Sequence[Any], pad_value: int = 0, batch_first: bool = True,
              max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad variable-length id sequences into one int64 Tensor.

    Args:
        sequences: B sequences of ids (lists, arrays, Tensors), each of length >= 0.
        pad_value: the id written after each sequence's end (``vocab.pad_index``).
        batch_first: ``(B, T)`` when True (default), ``(T, B)`` otherwise.
        max_len: cut sequences to at most this many ids (the lengths report the cut).

    Returns: ``(padded, lengths)``: ``(B, T)`` int64 with ``T = max length``, and ``(B,)`` int64.

    >>> x, lengths = pad_batch([[5, 6, 7], [8]])
    >>> x.tolist(), lengths.tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if len(sequences) == 0:
        raise ValueError("pad_batch: got no sequences")
    arrays = [np.asarray(s.data if isinstance(s, Tensor) else s, dtype=np.int64).reshape(-1)
              for s in sequences]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    if max_len is not None:
        lengths = np.minimum(lengths, _positive_int("max_len", max_len, "pad_batch"))
    t = int(lengths.max()) if len(lengths) else 0
    out = np.full((len(arrays), t), pad_value, dtype=np.int64)
    # one boolean-mask assignment fills every row: valid cells in row-major order are exactly the
    # concatenated (cut) sequences
    mask = np.arange(t) < lengths[:, None]
    if t:
        out[mask] = np.concatenate([a[:n] for a, n in zip(arrays, lengths.tolist())])
    if not batch_first:
        out = np.ascontiguousarray(out.T)
    return Tensor._make(out), Tensor._make(lengths)


def bucket_batches(lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                   bucket_size: int | None = None, drop_last: bool = False,
                   generator: np.random.Generator | None = None) -> list[np.ndarray]:
    """Cut sample indices into batches of similar length, so padding wastes little.

    With ``shuffle``: the indices are shuffled, cut into buckets of ``bucket_size`` (default
    ``50 * batch_size``), each bucket is sorted by length and cut into batches, and the batches'
    order is shuffled - random across epochs, yet each batch holds near-equal lengths. Without
    ``shuffle``: all indices sorted by length (stable), cut in order.

    Returns a list of int64 index arrays (each of ``batch_size``, the last possibly fewer unless
    ``drop_last``).

    >>> [b.tolist() for b in bucket_batches([5, 1, 4, 2], batch_size=2, shuffle=False)]
    [[1, 3], [2, 0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    batch_size = _positive_int("batch_size", batch_size, "bucket_batches")
    bucket_size = (50 * batch_size if bucket_size is None
                   else _positive_int("bucket_size", bucket_size, "bucket_batches"))
    gen = generator if generator is not None else backend.default_generator()
    n = len(lengths)
    if shuffle:
        order = gen.permutation(n)
        buckets = [order[s:s + bucket_size] for s in range(0, n, bucket_size)]
        order = np.concatenate([b[np.argsort(lengths[b], kind="stable")] for b in buckets]) \
            if n else order
    else:
        order = np.argsort(lengths, kind="stable")
    batches = [order[s:s + batch_size].astype(np.int64) for s in range(0, n, batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle and batches:
        batches = [batches[k] for k in gen.permutation(len(batches))]
    return batches


class BucketSampler:
    """An iterable of index batches of similar length; a fresh bucketing every epoch
    (``iter``). See :func:`bucket_batches` for the arguments.

    >>> sampler = BucketSampler([len(s) for s in seqs], batch_size=32)   # doctest: +SKIP
    >>> for idx in sampler:                                              # doctest: +SKIP
    ...     x, lengths = pad_batch([seqs[i] for i in idx], vocab.pad_index)
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 bucket_size: int | None = None, drop_last: bool = False,
                 generator: np.random.Generator | None = None) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        self.batch_size = _positive_int("batch_size", batch_size, "BucketSampler")
        self.shuffle, self.bucket_size, self.drop_last = bool(shuffle), bucket_size, drop_last
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(bucket_batches(self.lengths, self.batch_size, self.shuffle, self.bucket_size,
                                   self.drop_last, self.generator))
