"""The ORL (AT&T "Olivetti") face database: 10 grey 92x112 PGM photos per person.

Samaria and Harter, "Parameterisation of a stochastic model for human face identification",
2nd IEEE Workshop on Applications of Computer Vision, 1994 (please credit the Olivetti
Research Laboratory). The files are ``s<person>/<photo>.pgm`` (person 1..40, photo 1..10),
in a directory or in a zip (the original ``att_faces.zip`` / ``orl_faces.zip``, with any
leading folder).

The standard identification protocol trains on photos 1-5 of each person and tests on 6-10:
``ORLFaces(path, photos=range(1, 6))`` and ``ORLFaces(path, photos=range(6, 11))``.

>>> train = ORLFaces("orl_faces.zip", photos=range(1, 6))      # doctest: +SKIP
>>> x, y = train.arrays(); x.shape                              # doctest: +SKIP
(200, 1, 112, 92)
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..dataset import ImageClassificationDataset
from ..image import ImageFormatError, parse_pgm

__all__ = ["ORLFaces", "read_orl"]

_NAME = re.compile(r"(?:^|/)s(\d+)/(\d+)\.pgm$")


def _members(root: Path) -> list[tuple[int, int, str, bytes]]:
    """(person, photo, where, bytes) for every s<k>/<i>.pgm in a directory or zip."""
    found = []
    if root.is_dir():
        for f in sorted(root.rglob("*.pgm")):
            m = _NAME.search(f.relative_to(root).as_posix())
            if m:
                found.append((int(m[1]), int(m[2]), f"'{f}'", f.read_bytes()))
    else:
        try:
            with zipfile.ZipFile(root) as z:
                for name in z.namelist():
                    m = _NAME.search(name)
                    if m:
                        found.append((int(m[1]), int(m[2]), f"'{root}!{name}'", z.read(name)))
        except zipfile.BadZipFile:
            raise ImageFormatError(f"'{root}': not a zip file or a directory of the ORL faces "
                                   "(s<person>/<photo>.pgm)") from None
    return found


def read_orl(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images uint8 (N, H, W), person int64 (N,), photo int64 (N,))`` of every
    ``s<person>/<photo>.pgm`` under ``root`` (a directory or zip), sorted by person and photo.

    Raises FileNotFoundError for a missing root, ImageFormatError when it holds no ORL photo,
    a photo is malformed, or the photos differ in size.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"ORL faces: '{root}' does not exist; pass the ORL zip "
                                "(orl_faces.zip or att_faces.zip) or its unpacked directory")
    found = sorted(_members(root))
    if not found:
        raise ImageFormatError(f"'{root}' holds no ORL photo (files named s<person>/<photo>.pgm,"
                               " e.g. s1/1.pgm)")
    images = []
    for _, _, where, data in found:
        img = parse_pgm(data, where)
        first = images[0] if images else img
        if img.dtype != np.uint8 or img.shape != first.shape:
            raise ImageFormatError(f"{where}: a {img.shape[1]}x{img.shape[0]} {img.dtype} photo, "
                                   f"but the first one is {first.shape[1]}x{first.shape[0]} "
                                   "uint8; every photo must be 8-bit and of one size")
        images.append(img)
    person = np.array([f[0] for f in found], dtype=np.int64)
    photo = np.array([f[1] for f in found], dtype=np.int64)
    return np.stack(images), person, photo


class ORLFaces(ImageClassificationDataset):
    """The ORL faces under ``root`` (a zip or directory), optionally only some people and
    photos; the label of a photo is the position of its person among the people kept
    (``classes`` holds their names, ``"s1"`` ...), ``photos`` the photo number of each sample.

    Shape: ``ds[i]`` is ``(image float32 (1, 112, 92) in [0, 1], label)``; ``ds.arrays()``
    the whole set as ``(float32 (N, 1, 112, 92), int64 (N,))``.
    """

    def __init__(self, root: str | os.PathLike, people: Iterable[int] | None = None,
                 photos: Iterable[int] | None = None, transform: object = None) -> None:
        images, person, photo = read_orl(root)
        keep = np.ones(len(person), dtype=bool)
        if people is not None:
            wanted = np.array(sorted(set(int(p) for p in people)), dtype=np.int64)
            missing = sorted(set(wanted.tolist()) - set(person.tolist()))
            if missing:
                raise ValueError(f"ORLFaces: '{root}' has no photos of people {missing} "
                                 f"(it has s{person.min()}..s{person.max()})")
            keep &= np.isin(person, wanted)
        if photos is not None:
            keep &= np.isin(photo, np.array(list(photos), dtype=np.int64))
        if not keep.any():
            raise ValueError(f"ORLFaces: no photo of '{root}' matches people={people!r}, "
                             f"photos={photos!r}")
        kept = np.unique(person[keep])
        self.data, self.photos = images[keep], photo[keep]
        self.person = person[keep]
        self.targets = np.searchsorted(kept, self.person).astype(np.int64)
        self.classes = [f"s{p}" for p in kept]
        self.pixel_max = 255
        self.transform = transform
