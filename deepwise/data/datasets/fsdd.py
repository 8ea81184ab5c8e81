"""The Free Spoken Digit Dataset (FSDD, Jackson et al.): 8 kHz mono recordings of spoken digits,
read from its ``recordings.zip`` (or an unpacked ``recordings/`` folder) with the standard
library (``zipfile`` + ``wave``).

Files are named ``{digit}_{speaker}_{index}.wav``. The official split (the upstream README):
index 0-4 is the test set, 5-49 the training set.

Where the data is looked for, in order: ``root`` (the zip itself, a folder holding
``recordings.zip`` or ``recordings/``, or the ``recordings/`` folder), ``$DEEPWISE_DATA/fsdd`` and
``$DEEPWISE_DATA`` (several directories: separate with ``:``), ``~/.cache/deepwise/fsdd``.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import WavError, read_wav
from ..dataset import Dataset
from .mnist import DatasetNotFoundError

__all__ = ["FSDD", "find_fsdd"]

_NAME = re.compile(r"(?:^|/)(\d)_([A-Za-z]+)_(\d+)\.wav$")
SAMPLE_RATE = 8000


def _candidates(root: Any) -> list[Path]:
    out: list[Path] = []
    if root is not None:
        r = Path(root).expanduser()
        out += [r, r / "recordings.zip", r / "recordings", r / "fsdd"]
    for d in filter(None, os.environ.get("DEEPWISE_DATA", "").split(":")):
        out += [Path(d) / "fsdd", Path(d)]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepwise" / "fsdd"
    out.append(cache)
    expanded: list[Path] = []
    for p in out:
        expanded += [p] if p.suffix == ".zip" or p.name == "recordings" else [
            p / "recordings.zip", p / "recordings"]
    return expanded


def find_fsdd(root: str | os.PathLike | None = None) -> Path:
    """The FSDD ``recordings.zip`` or ``recordings/`` folder (see the module docstring for where
    it is looked for); DatasetNotFoundError listing the places tried if none has it."""
    tried = _candidates(root)
    for p in tried:
        if (p.is_file() and zipfile.is_zipfile(p)) or (p.is_dir() and any(p.glob("*_*_*.wav"))):
            return p
    raise DatasetNotFoundError(
        "FSDD: no recordings.zip or recordings/ folder found; tried " +
        ", ".join(f"'{p}'" for p in dict.fromkeys(tried)) +
        ". Get it from https://github.com/Jakobovski/free-spoken-digit-dataset and pass its "
        "folder as root, or set $DEEPWISE_DATA")


def _read_all(path: Path) -> list[tuple[str, bytes]]:
    if path.is_dir():
        return [(f.name, f.read_bytes()) for f in sorted(path.glob("*.wav"))]
    with zipfile.ZipFile(path) as z:
        return [(n, z.read(n)) for n in sorted(z.namelist()) if _NAME.search(n)]


class FSDD(Dataset):
    """Spoken digits: item ``i`` is ``(waveform, digit)`` - float32 samples at 8 kHz (lengths
    differ: 0.14-2.3 s) and an int in 0..9 - or ``(transform(waveform), digit)``.

    Args:
        root: where the data is (see the module docstring); None: the standard places.
        train: the official training split (index 5-49) or the test split (index 0-4).
        split: ``'train'``, ``'test'`` or ``'all'`` (overrides ``train``).
        speakers: keep only these speakers (e.g. ``['theo']``); None: all.
        transform: applied to each waveform when an item is read.

    Attributes: ``waveforms`` (list of arrays), ``targets`` (int64), ``speakers`` (list of
    names), ``indices`` (the repetition number), ``files`` (names), ``sample_rate`` (8000).

    >>> ds = FSDD(split="test")                              # doctest: +SKIP
    >>> len(ds), ds.sample_rate, ds[0][1]                    # doctest: +SKIP
    (250, 8000, 0)
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, *,
                 split: str | None = None, speakers: Sequence[str] | None = None,
                 transform: Callable[[np.ndarray], Any] | None = None) -> None:
        split = split or ("train" if train else "test")
        if split not in ("train", "test", "all"):
            raise ValueError(f"FSDD: split must be 'train', 'test' or 'all', got {split!r}")
        self.path = find_fsdd(root)
        self.split, self.transform = split, transform
        self.waveforms: list[np.ndarray] = []
        digits, self.speakers, idx, self.files = [], [], [], []
        keep = None if speakers is None else set(speakers)
        for name, data in _read_all(self.path):
            m = _NAME.search(name)
            if m is None:
                continue
            d, spk, k = int(m.group(1)), m.group(2), int(m.group(3))
            if (split == "test" and k > 4) or (split == "train" and k <= 4):
                continue
            if keep is not None and spk not in keep:
                continue
            try:
                x, rate = read_wav(io.BytesIO(data))
            except WavError as e:
                raise WavError(f"FSDD: '{self.path}' member '{name}': {e}") from None
            if rate != SAMPLE_RATE or x.ndim != 1:
                raise WavError(f"FSDD: '{self.path}' member '{name}' is {rate} Hz with "
                               f"{1 if x.ndim == 1 else x.shape[1]} channel(s); FSDD is 8 kHz "
                               "mono")
            self.waveforms.append(x)
            digits.append(d)
            self.speakers.append(spk)
            idx.append(k)
            self.files.append(name.rsplit("/", 1)[-1])
        if not self.waveforms:
            raise DatasetNotFoundError(f"FSDD: '{self.path}' holds no recordings for split "
                                       f"{split!r}" + (f" and speakers {sorted(keep)}" if keep
                                                       else ""))
        self.targets = np.asarray(digits, np.int64)
        self.indices = np.asarray(idx, np.int64)

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        x = self.waveforms[i]
        return (self.transform(x) if self.transform else x), int(self.targets[i])

    def __repr__(self) -> str:
        return (f"FSDD(split={self.split!r}, n={len(self)}, speakers="
                f"{sorted(set(self.speakers))}, path='{self.path}')")
