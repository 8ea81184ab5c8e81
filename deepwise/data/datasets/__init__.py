"""Real data sets, read from their real file formats.

- :class:`MNIST`, :class:`FashionMNIST`: the IDX files (found in ``root``, ``$DEEPWISE_DATA``,
  ``~/.cache/deepwise`` or a system package; ``download=True`` never downloads).
- :class:`Digits`: the UCI 8x8 digits, shipped inside the package (works offline, anywhere).
- :class:`ORLFaces`: the ORL (AT&T) face photos, PGM files in a zip or directory.
- :class:`FSDD`: the Free Spoken Digit Dataset, 8 kHz WAV files in a zip or directory.
- :mod:`eth_ucy`: ETH/UCY pedestrian trajectories (``frame ped x y`` text files), Social GAN's
  20-frame windows (:class:`TrajectoryWindows`) and leave-one-scene-out folds (:func:`load_fold`).
"""

from .digits import Digits
from .mnist import (
    MNIST,
    DatasetNotFoundError,
    FashionMNIST,
    IDXFormatError,
    read_idx,
)
from .orl import ORLFaces, read_orl
from .fsdd import FSDD, find_fsdd
from .eth_ucy import TrajectoryFormatError, TrajectoryWindows, load_fold, read_trajectories

__all__ = ["MNIST", "FashionMNIST", "Digits", "read_idx", "IDXFormatError",
           "DatasetNotFoundError"]
__all__ += ["ORLFaces", "read_orl"]
__all__ += ["FSDD", "find_fsdd"]
__all__ += ["TrajectoryWindows", "TrajectoryFormatError", "read_trajectories", "load_fold"]
