"""torchvision.datasets for deepwise: ``MNIST`` and ``FashionMNIST`` with torchvision's signature
``(root, train=True, transform=None, target_transform=None, download=False)``.

They read the same IDX files as :mod:`deepwise.data.datasets` (which finds them in ``root``,
``root/<Class>/raw`` as torchvision lays them out, ``$DEEPWISE_DATA``, ``~/.cache/deepwise`` or
the system package), and behave as torchvision's: ``ds[i]`` is ``(PIL image, int)`` passed
through ``transform`` / ``target_transform``; ``ds.data`` is a uint8 Tensor (N, 28, 28),
``ds.targets`` an int64 Tensor (N,).

``download=True`` never touches the network (deepwise does not download at run time): when
the files are nowhere to be found it raises ``DatasetNotFoundError`` saying where to put them.

When ``transform`` has a batch form (``ToTensor()``, or ``Compose([ToTensor(), Normalize(...)])``
...; see :mod:`deepwise.vision.transforms`) a DataLoader batch is gathered in one call
(``__getitems__``), with the same values the per-sample path gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import _as_index_array, _check_range
from ..data.datasets import mnist as _mnist
from ..data.datasets.mnist import DatasetNotFoundError
from ..tensor import Tensor
from .transforms import _pil

__all__ = ["MNIST", "FashionMNIST", "DatasetNotFoundError"]


class _TorchvisionStyle:
    """torchvision's per-sample behaviour on top of an IDX-backed deepwise data set."""

    _images: np.ndarray
    _labels: np.ndarray

    def _setup(self) -> None:
        self._images, self._labels = self.data, self.targets
        self.data = Tensor._make(self._images)
        self.targets = Tensor._make(self._labels)

    def _download(self, dest: Path) -> None:
        raise DatasetNotFoundError(
            f"{type(self).__name__}(download=True): deepwise does not download data at run time. "
            f"Put the four files ({', '.join(self.resources)}) in {dest} (or in "
            f"{Path(dest) / type(self).__name__ / 'raw'}, torchvision's layout), or in a "
            f"directory named by $DEEPWISE_DATA" + (f"; or {self.install_hint}"
                                                     if self.install_hint else ""))

    def __len__(self) -> int:
        return self._images.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img = self._images[int(index)]
        image = _pil()
        if image is not None:
            img = image.fromarray(img, mode="L")
        target: Any = int(self._labels[int(index)])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _batchable(self) -> bool:
        return getattr(self.transform, "batch", None) is not None and \
            self.target_transform is None

    def __getitems__(self, indices: Any) -> tuple[Any, Any]:
        """``(transform.batch(images uint8 (B, 28, 28)), labels int64 (B,))`` in one gather;
        only for a transform with a batch form (else the DataLoader goes sample by sample)."""
        where = f"{type(self).__name__}.__getitems__"
        if not self._batchable():
            raise TypeError(f"{where}: this data set's transform ({self.transform!r}) has no "
                            "batch form; index it sample by sample")
        idx = _as_index_array(indices, where)
        _check_range(idx, len(self), where)
        return self.transform.batch(self._images[idx]), self._labels[idx]

    @property
    def raw_folder(self) -> str:
        return os.fspath(Path(self.images_path).parent)


class MNIST(_TorchvisionStyle, _mnist.MNIST):
    """torchvision.datasets.MNIST: 28x28 grey digits. Shape: ``ds[i]`` = (PIL image 28x28, int),
    or (Tensor (1, 28, 28), int) with ``transform=ToTensor()``."""

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(root, train=train, download=download, transform=transform,
                         target_transform=target_transform)
        self._setup()


class FashionMNIST(_TorchvisionStyle, _mnist.FashionMNIST):
    """torchvision.datasets.FashionMNIST: 28x28 grey clothes. Shape: as :class:`MNIST`."""

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(root, train=train, download=download, transform=transform,
                         target_transform=target_transform)
        self._setup()
