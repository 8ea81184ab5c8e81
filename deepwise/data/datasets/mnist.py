"""MNIST and Fashion-MNIST, read from their real IDX files.

The IDX format (LeCun et al.): a big-endian header - a 4-byte magic number ``0x0000TTDD`` (TT: the
element type, 0x08 = uint8; DD: the number of dimensions), one 4-byte size per dimension - then
the elements, row-major. Images are ``0x00000803`` (N x 28 x 28 uint8), labels ``0x00000801``
(N uint8). Files may be gzip-compressed (``*.gz``, detected by content, not by name).

Where the files are looked for, in order (the first directory holding the split's two files wins):

1. ``root``, ``root/<name>`` and ``root/<Class>/raw`` (torchvision's layout), if ``root`` is given;
2. ``$DEEPWISE_DATA/<name>`` and ``$DEEPWISE_DATA`` (several directories: separate with ``:``);
3. ``~/.cache/deepwise/<name>`` (``$XDG_CACHE_HOME/deepwise/<name>`` when that is set);
4. the system location of a packaged copy (Debian's ``dataset-fashion-mnist`` installs
   ``/usr/share/datasets/fashion-mnist``).

``<name>`` is ``mnist`` or ``fashion-mnist``. Both data sets use the same file names, so a
directory holding the *other* data set is recognised by its label file and skipped.
deepwise never downloads at run time (no network): ``download=True`` is accepted, as torchvision's
signature has it, but when the files are found nowhere it raises :class:`DatasetNotFoundError`
saying where to put them (and, for Fashion-MNIST, the Debian package that installs them).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import ImageClassificationDataset

__all__ = ["MNIST", "FashionMNIST", "read_idx", "IDXFormatError", "DatasetNotFoundError"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# IDX element type code -> (dtype as stored, big-endian).
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_MAX_PAYLOAD = 1 << 34  # 16 GiB: a header asking for more is garbage, not an image set

# SHA-256 of whole decompressed label files, to tell MNIST and Fashion-MNIST apart (same names).
_LABEL_FILES = {
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5": "MNIST",  # train
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": "MNIST",  # t10k
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9": "FashionMNIST",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": "FashionMNIST",
}


class IDXFormatError(ValueError):
    """An IDX file is malformed: wrong magic number, bad dimensions, truncated or corrupt."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are in none of the places searched (the message lists them)."""


def _open(path: Path) -> Any:
    """Open ``path`` for binary reading, decompressing if it starts with the gzip magic."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_into(f: Any, buf: memoryview) -> int:
    """Fill ``buf`` from ``f``; returns the number of bytes read (fewer at end of file)."""
    got = 0
    while got < len(buf):
        k = f.readinto(buf[got:])
        if not k:
            break
        got += k
    return got


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of the shape its header gives.

    Checks the magic number (``expected_magic``: 0x803 for images, 0x801 for labels), that the
    payload holds exactly the bytes the header promises, and that a gzip stream is complete.
    Raises :class:`IDXFormatError` naming the file and what was wrong.

    >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 0x801).shape
    (10000,)
    """
    path = Path(path)
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4:
                raise IDXFormatError(f"{path}: not an IDX file - it holds {len(head)} bytes, "
                                     "fewer than the 4-byte magic number")
            (magic,) = struct.unpack(">I", head)
            if expected_magic is not None and magic != expected_magic:
                raise IDXFormatError(
                    f"{path}: wrong IDX magic number 0x{magic:08X}, expected "
                    f"0x{expected_magic:08X} ({_describe_magic(expected_magic)})")
            code, ndim = head[2], head[3]
            if head[:2] != b"\0\0" or code not in _IDX_TYPES or ndim == 0:
                raise IDXFormatError(f"{path}: not an IDX file (magic number 0x{magic:08X}; "
                                     "expected 0x0000TTDD with a known type TT and DD >= 1)")
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise IDXFormatError(f"{path}: truncated IDX header: {ndim} dimensions need "
                                     f"{4 * ndim} bytes after the magic, the file has "
                                     f"{len(dims_raw)}")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            dtype = _IDX_TYPES[code]
            expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
            header = 4 + 4 * ndim
            if expected > _MAX_PAYLOAD:
                raise IDXFormatError(f"{path}: implausible IDX header: dimensions {dims} mean "
                                     f"{expected} bytes of data")
            out = np.empty(expected, dtype=np.uint8)
            got = _read_into(f, memoryview(out))
            if got < expected:
                raise IDXFormatError(
                    f"{path}: truncated IDX file: the header (dimensions {dims}, {dtype.name}) "
                    f"promises {expected} bytes of data ({header + expected} bytes in all), but "
                    f"only {got} bytes follow the {header}-byte header")
            extra = len(f.read(1 << 16))
            if extra:
                raise IDXFormatError(
                    f"{path}: {'at least ' if extra == 1 << 16 else ''}{extra} unexpected bytes "
                    f"after the {expected} bytes of data that the header (dimensions {dims}) "
                    "describes")
    except EOFError as e:  # a gzip stream cut short
        raise IDXFormatError(f"{path}: truncated gzip stream ({e}); the file is incomplete - "
                             "delete it and fetch it again") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise IDXFormatError(f"{path}: corrupt gzip data ({e}); delete the file and fetch it "
                             "again") from None
    arr = out.view(dtype).reshape(dims)
    return arr if dtype.isnative or dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def _describe_magic(magic: int) -> str:
    return {IMAGES_MAGIC: "uint8 images, 3 dimensions",
            LABELS_MAGIC: "uint8 labels, 1 dimension"}.get(magic, "IDX")


# ---- the data sets ----------------------------------------------------------------------------
class MNIST(ImageClassificationDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test 28x28 grey images, 10 classes.

    Args:
        root: a directory to look in first.
        train: the training split (``train-*`` files) or the test split (``t10k-*``).
        download: accepted for torchvision's signature; deepwise does not download (no network
            at run time): when the files are found nowhere, the error says where to put them.
        transform: a function on a batch of images, float32 (B, 1, 28, 28) -> array; applied
            batch by batch on the DataLoader's fast path (and to a batch of one by ``ds[i]``).
            See ``deepwise.data.transforms``.
        target_transform: the same for a batch of labels, int64 (B,).

    Attributes: ``data`` uint8 (N, 28, 28), ``targets`` int64 (N,), ``classes`` (names),
    ``images_path`` / ``labels_path`` (the files read).

    Shape: ``ds[i]`` is ``(image Tensor float32 (1, 28, 28) in [0, 1], label int)``;
    ``ds.__getitems__(idx)`` is ``(images float32 (B, 1, 28, 28), labels int64 (B,))``, one fancy
    index per batch; ``ds.arrays()`` the whole split that way.
    """

    name = "mnist"
    classes: list[str] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                          "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    resources: dict[str, str] = {  # the official .gz files and their SHA-256
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    system_dirs: tuple[str, ...] = ()
    install_hint = ""

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = False, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        prefix = "train" if self.train else "t10k"
        self._stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        found, notes = self._find()
        if found is None and download:
            self._download(self.root if self.root is not None else self.cache_dir())
        if found is None:
            raise DatasetNotFoundError(self._not_found_message(notes))
        self.images_path, self.labels_path, self.data, self.targets = found

    # -- where the files are ---------------------------------------------------------------
    @classmethod
    def cache_dir(cls) -> Path:
        """``~/.cache/deepwise/<name>`` (``$XDG_CACHE_HOME/deepwise/<name>`` when set)."""
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "deepwise" / cls.name

    def search_dirs(self) -> list[Path]:
        """The directories looked in, in order (see the module docstring)."""
        dirs: list[Path] = []
        if self.root is not None:  # root/<Class>/raw: where torchvision keeps the same files
            dirs += [self.root, self.root / self.name, self.root / type(self).__name__ / "raw"]
        for entry in os.environ.get("DEEPWISE_DATA", "").split(os.pathsep):
            if entry:
                base = Path(entry).expanduser()
                dirs += [base / self.name, base]
        dirs.append(self.cache_dir())
        dirs += [Path(d) for d in self.system_dirs]
        unique: list[Path] = []
        for d in dirs:
            if d not in unique:
                unique.append(d)
        return unique

    def _files_in(self, directory: Path) -> tuple[Path, Path] | None:
        paths = []
        for stem in self._stems:
            hit = next((directory / n for n in (stem, stem + ".gz") if (directory / n).is_file()),
                       None)
            if hit is None:
                return None
            paths.append(hit)
        return paths[0], paths[1]

    def _find(self) -> tuple[tuple | None, list[str]]:
        """The first directory holding this split's files, loaded; plus a note per directory."""
        notes = []
        for d in self.search_dirs():
            files = self._files_in(d)
            if files is None:
                missing = f"no {self._stems[0]}[.gz] + {self._stems[1]}[.gz]"
                notes.append(f"{d}: {missing if d.is_dir() else 'does not exist'}")
                continue
            labels = read_idx(files[1], LABELS_MAGIC)
            owner = _LABEL_FILES.get(hashlib.sha256(
                struct.pack(">II", LABELS_MAGIC, labels.shape[0]) + labels.tobytes()).hexdigest())
            if owner is not None and owner != type(self).__name__:
                notes.append(f"{d}: holds {owner}, not {type(self).__name__} - skipped")
                continue
            images = read_idx(files[0], IMAGES_MAGIC)
            self._validate(images, labels, files)
            return (files[0], files[1], images, labels.astype(np.int64)), notes
        return None, notes

    def _validate(self, images: np.ndarray, labels: np.ndarray, files: tuple[Path, Path]) -> None:
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise IDXFormatError(f"{files[0]}: expected images of shape (N, 28, 28), the header "
                                 f"gives {images.shape}")
        if labels.ndim != 1:
            raise IDXFormatError(f"{files[1]}: expected labels of shape (N,), the header gives "
                                 f"{labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise IDXFormatError(f"{files[0]} holds {images.shape[0]} images but {files[1]} "
                                 f"holds {labels.shape[0]} labels; the counts must agree")
        if labels.size and labels.max() >= len(self.classes):
            raise IDXFormatError(f"{files[1]}: label {int(labels.max())} is out of range for "
                                 f"{len(self.classes)} classes")

    def _not_found_message(self, notes: list[str]) -> str:
        places = "\n".join(f"  - {n}" for n in notes)
        how = [f"  - put the four files ({', '.join(self.resources)}, from the data set's "
               f"site) in {self.root or self.cache_dir()}, or in a directory named by "
               f"DEEPWISE_DATA=<dir> (or <dir>/{self.name}), or pass root=<dir>",
               "  - (download=True does not download: deepwise uses no network at run time)"]
        if self.install_hint:
            how.insert(0, f"  - {self.install_hint}")
        return (f"{type(self).__name__}: files {self._stems[0]}[.gz] and {self._stems[1]}[.gz] "
                f"not found. Looked in:\n{places}\nTo get them:\n" + "\n".join(how))

    def _download(self, dest: Path) -> None:
        """``download=True`` with the files found nowhere: refuse, saying where to put them."""
        raise DatasetNotFoundError(
            f"{type(self).__name__}(download=True): deepwise does not download data at run time "
            f"(no network). Put the four files ({', '.join(self.resources)}) in {dest} (or in "
            f"{Path(dest) / type(self).__name__ / 'raw'}, torchvision's layout), or in a "
            f"directory named by $DEEPWISE_DATA, and pass download=False"
            + (f"; or {self.install_hint}" if self.install_hint else "")
            + f". Looked in: {', '.join(str(d) for d in self.search_dirs())}")

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}(split={split}, samples={len(self)}, "
                f"images={self.images_path})")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test 28x28 grey images of clothes.

    A drop-in replacement for MNIST (same files, sizes and 10 classes), harder to classify.
    Arguments, attributes and shapes as :class:`MNIST`. On Debian/Ubuntu the data comes with
    ``apt-get install dataset-fashion-mnist`` (found automatically). License: MIT, Zalando SE;
    cite Xiao, Rasul & Vollgraf, arXiv:1708.07747 (2017).

    >>> train = FashionMNIST(train=True)
    >>> train.data.shape, train.classes[9]
    ((60000, 28, 28), 'Ankle boot')
    """

    name = "fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    resources = {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    install_hint = "apt-get install dataset-fashion-mnist (Debian/Ubuntu, as root)"
