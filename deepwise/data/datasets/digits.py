"""The UCI 8x8 handwritten digits, shipped inside deepwise (no download, no setup).

``files/digits.csv.gz``: 1,797 rows of 65 integers - 64 pixels of an 8x8 image (row-major,
0..16) then the label (0..9). The test set of the UCI "Optical Recognition of Handwritten Digits"
data (Alpaydin & Kaynak, 1998; CC BY 4.0, see ``files/DIGITS-LICENSE.md``), the copy
scikit-learn ships as ``load_digits``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dataset import ImageClassificationDataset

__all__ = ["Digits"]

SPLIT_SEED = 0
TEST_FRACTION_DENOMINATOR = 4  # a quarter of each class (rounded down) is held out


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 samples: images uint8 (N, 8, 8) in 0..16, labels int64 (N,). Read once."""
    resource = importlib.resources.files(__package__).joinpath("files/digits.csv.gz")
    with resource.open("rb") as raw, gzip.open(raw, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{resource}: expected 65 comma-separated values per row (64 pixels and "
                         f"a label), got {table.shape[1]}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{resource}: pixel values must lie in 0..16 and labels in 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 8, 8)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split: (train indices, test indices), each sorted.

    Every class's samples are put in a random order (one permutation from
    ``np.random.default_rng(seed)``, then a stable sort by label); the first
    ``n_class // 4`` of each class form the test set, the rest the training set.
    """
    n = labels.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    order = perm[np.argsort(labels[perm], kind="stable")]  # grouped by class, random within
    counts = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(n) - starts[labels[order]]
    is_test = rank < counts[labels[order]] // TEST_FRACTION_DENOMINATOR
    return np.sort(order[~is_test]), np.sort(order[is_test])


class Digits(ImageClassificationDataset):
    """The 8x8 handwritten digits (UCI), embedded in the package: 1,797 images, 10 classes.

    A fixed, documented train/test split, stratified by class: each class's samples are
    shuffled with ``np.random.default_rng(0)`` (one permutation of all 1,797 rows, then a
    stable sort by label) and the first quarter of each class, rounded down, is the test set.
    That gives **1,352 training / 445 test** images (43-45 test images per class), the same on
    every machine and every run.

    Args:
        train: the training split (True) or the test split.
        transform: a function on a batch of images, float32 (B, 1, 8, 8) -> array (see
            ``deepwise.data.transforms``); target_transform: the same for labels int64 (B,).

    Attributes: ``data`` uint8 (N, 8, 8) in 0..16, ``targets`` int64 (N,), ``indices`` (the
    rows of the file), ``classes`` = ``["0", ..., "9"]``.

    Shape: ``ds[i]`` is ``(image Tensor float32 (1, 8, 8) in [0, 1], label int)``;
    ``ds.__getitems__(idx)`` is ``(images float32 (B, 1, 8, 8), labels int64 (B,))``.

    >>> train, test = Digits(train=True), Digits(train=False)
    >>> len(train), len(test), train[0][0].shape
    (1352, 445, (1, 8, 8))
    """

    classes: list[str] = [str(d) for d in range(10)]
    pixel_max = 16

    def __init__(self, train: bool = True, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        images, labels = _load()
        train_idx, test_idx = split_indices(labels)
        self.train = bool(train)
        self.indices = train_idx if self.train else test_idx
        self.data: np.ndarray = images[self.indices]
        self.targets: np.ndarray = labels[self.indices]
        self.transform = transform
        self.target_transform = target_transform

    def __repr__(self) -> str:
        return f"Digits(split={'train' if self.train else 'test'}, samples={len(self)})"
