"""Real data sets: the IDX reader (and its errors), where MNIST/FashionMNIST look for files,
``download=True`` refusing to touch the network, the real Fashion-MNIST files, and the embedded
Digits."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import deepwise as dw
from deepwise.data import DataLoader
from deepwise.data.datasets import (
    MNIST,
    DatasetNotFoundError,
    Digits,
    FashionMNIST,
    IDXFormatError,
    read_idx,
)
from deepwise.data.datasets.digits import _load, split_indices

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SKIP_FASHION = ("Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist "
                "(apt-get install dataset-fashion-mnist)")
needs_fashion = pytest.mark.skipif(not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
                                   reason=SKIP_FASHION)


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr)
    if magic is None:
        magic = 0x800 + arr.ndim
    return struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.tobytes()


def write(path: Path, payload: bytes, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def fake_split(directory: Path, n: int = 12, train: bool = True, gz: bool = True,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write a small MNIST-format split (n images and labels) into ``directory``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if train else "t10k"
    suffix = ".gz" if gz else ""
    write(directory / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
    write(directory / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
    return images, labels


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No DEEPWISE_DATA, an empty cache, and no system directories: only what a test adds."""
    monkeypatch.delenv("DEEPWISE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(MNIST, "system_dirs", ())
    monkeypatch.setattr(FashionMNIST, "system_dirs", (str(tmp_path / "system"),))
    return tmp_path


# ---- the IDX reader ----------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write(tmp_path / "a.idx", idx_bytes(arr), gz)
    out = read_idx(path, 0x803)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.uint8 and out.flags.writeable
    big_endian = np.array([[1.5, -2.0]], dtype=">f4")
    path = write(tmp_path / "f.idx", idx_bytes(big_endian, 0x0D02), gz)
    out = read_idx(path)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[1.5, -2.0]])


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx_names_file_and_byte_counts(tmp_path, gz):
    full = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    path = write(tmp_path / "train-images-idx3-ubyte.gz", full[:-100], gz)
    with pytest.raises(IDXFormatError) as err:
        read_idx(path, 0x803)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg
    assert "2352 bytes" in msg and "2252 bytes" in msg  # promised vs found


def test_cut_gzip_stream_is_a_clear_error(tmp_path):
    blob = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 255, (5, 28, 28),
                                                                     dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IDXFormatError, match="truncated gzip stream") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_wrong_magic_and_other_bad_headers(tmp_path):
    labels = write(tmp_path / "labels.gz", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(IDXFormatError, match="wrong IDX magic number 0x00000801, expected "
                                             "0x00000803") as err:
        read_idx(labels, 0x803)
    assert str(labels) in str(err.value)
    junk = write(tmp_path / "junk", b"PK\x03\x04 not an idx file", gz=False)
    with pytest.raises(IDXFormatError, match="not an IDX file"):
        read_idx(junk)
    tiny = write(tmp_path / "tiny", b"\0\0", gz=False)
    with pytest.raises(IDXFormatError, match="2 bytes"):
        read_idx(tiny)
    extra = write(tmp_path / "extra", idx_bytes(np.zeros(4, np.uint8)) + b"\1\2\3", gz=False)
    with pytest.raises(IDXFormatError, match="3 unexpected bytes"):
        read_idx(extra)
    short_header = write(tmp_path / "hdr", struct.pack(">II", 0x803, 5), gz=False)
    with pytest.raises(IDXFormatError, match="truncated IDX header"):
        read_idx(short_header)


# ---- MNIST / FashionMNIST from local files -----------------------------------------------------
def test_mnist_from_root(isolated):
    images, labels = fake_split(isolated / "data", n=12, train=False, gz=False)
    ds = MNIST(root=isolated / "data", train=False)
    assert len(ds) == 12 and ds.data.shape == (12, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
    image, label = ds[3]
    assert isinstance(image, dw.Tensor) and image.shape == (1, 28, 28)
    assert image.dtype == dw.float32 and label == labels[3] and isinstance(label, int)
    np.testing.assert_allclose(image.numpy()[0], images[3] / 255.0, rtol=1e-6)
    xs, y = ds.arrays()
    assert xs.shape == (12, 1, 28, 28) and xs.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= xs.min() and xs.max() <= 1.0
    xb, yb = next(iter(DataLoader(ds, batch_size=5, shuffle=True)))
    assert xb.shape == (5, 1, 28, 28) and yb.dtype == dw.int64
    assert ds.class_to_idx["3 - three"] == 3


def test_transform_is_applied_per_batch(isolated):
    fake_split(isolated / "mnist", n=8)
    seen = []

    def tf(x):
        seen.append(x.shape)
        return x * 2

    ds = MNIST(root=isolated, transform=tf, target_transform=lambda y: y + 100)
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert seen == [(8, 1, 28, 28)]
    assert yb.numpy().min() >= 100 and xb.numpy().max() > 1.0
    image, label = ds[0]
    assert seen[-1] == (1, 1, 28, 28) and image.shape == (1, 28, 28) and label >= 100


def test_count_mismatch_and_bad_dimensions(isolated):
    d = isolated / "d"
    fake_split(d, n=6)
    write(d / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(IDXFormatError, match="6 images but .* 5 labels"):
        MNIST(root=d)
    write(d / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((5, 28, 27), np.uint8)))
    with pytest.raises(IDXFormatError, match=r"\(N, 28, 28\).*\(5, 28, 27\)"):
        MNIST(root=d)
    write(d / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    write(d / "train-labels-idx1-ubyte.gz", idx_bytes(np.full(5, 10, np.uint8)))
    with pytest.raises(IDXFormatError, match="label 10 is out of range"):
        MNIST(root=d)


def test_truncated_dataset_file_error_names_the_file(isolated):
    d = isolated / "d"
    fake_split(d, n=4)
    good = gzip.decompress((d / "train-images-idx3-ubyte.gz").read_bytes())
    write(d / "train-images-idx3-ubyte.gz", good[:-10])
    with pytest.raises(IDXFormatError, match="truncated") as err:
        MNIST(root=d)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_missing_data_lists_every_place_and_how_to_get_it(isolated, monkeypatch):
    monkeypatch.setenv("DEEPWISE_DATA", str(isolated / "dd"))
    (isolated / "dd").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        FashionMNIST(root=isolated / "r", train=False)
    msg = str(err.value)
    for place in (isolated / "r", isolated / "r" / "fashion-mnist",
                  isolated / "dd" / "fashion-mnist", isolated / "dd",
                  isolated / "cache" / "deepwise" / "fashion-mnist", isolated / "system"):
        assert f"{place}:" in msg, f"{place} missing from:\n{msg}"
    assert "t10k-images-idx3-ubyte" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "download=True" in msg and "DEEPWISE_DATA" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_deepwise_data_is_honoured(isolated, monkeypatch):
    images, _ = fake_split(isolated / "dd" / "mnist", n=7, seed=1)
    monkeypatch.setenv("DEEPWISE_DATA", str(isolated / "dd"))
    ds = MNIST()
    assert len(ds) == 7 and ds.images_path.parent == isolated / "dd" / "mnist"
    np.testing.assert_array_equal(ds.data, images)
    # a bare $DEEPWISE_DATA directory works too, and root comes first
    fake_split(isolated / "bare", n=3, seed=2)
    monkeypatch.setenv("DEEPWISE_DATA", str(isolated / "bare"))
    assert len(MNIST()) == 3
    fake_split(isolated / "first", n=5, seed=3)
    assert len(MNIST(root=isolated / "first")) == 5


def test_torchvision_layout_under_root(isolated):
    fake_split(isolated / "tv" / "FashionMNIST" / "raw", n=6, gz=False)
    assert len(FashionMNIST(root=isolated / "tv")) == 6


def test_cache_directory_is_searched(isolated):
    fake_split(isolated / "cache" / "deepwise" / "fashion-mnist", n=4, train=False)
    assert len(FashionMNIST(train=False)) == 4


@needs_fashion
def test_mnist_skips_a_directory_holding_fashion_mnist(isolated):
    d = isolated / "wrong"
    d.mkdir()
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(FASHION_DIR / stem, d / stem)
    with pytest.raises(DatasetNotFoundError, match="holds FashionMNIST, not MNIST - skipped"):
        MNIST(root=d, train=False)
    assert len(FashionMNIST(root=d, train=False)) == 10000


# ---- download=True: no network at run time ----------------------------------------------------
@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    import socket

    def refuse(*a, **k):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_download_true_refuses_and_says_where_to_put_the_files(isolated, no_network, cls):
    with pytest.raises(DatasetNotFoundError) as err:
        cls(root=isolated / "dl", train=False, download=True)
    msg = str(err.value)
    assert f"{cls.__name__}(download=True): deepwise does not download data at run time" in msg
    assert f"in {isolated / 'dl'} (or in {isolated / 'dl' / cls.__name__ / 'raw'}" in msg
    assert "t10k-labels-idx1-ubyte.gz" in msg and "$DEEPWISE_DATA" in msg
    assert str(isolated / "cache" / "deepwise" / cls.name) in msg  # where it looked
    assert ("apt-get install dataset-fashion-mnist" in msg) == (cls is FashionMNIST)
    assert not (isolated / "dl").exists()  # nothing written
    with pytest.raises(DatasetNotFoundError, match=f"in {isolated / 'cache' / 'deepwise'}"):
        cls(train=False, download=True)  # without root: the cache directory is named


def test_download_true_with_the_files_present_just_loads(isolated, no_network):
    fake_split(isolated / "here", n=5, train=False)
    assert len(MNIST(root=isolated / "here", train=False, download=True)) == 5


# ---- the real Fashion-MNIST (Debian's dataset-fashion-mnist) ----------------------------------
def whole_file_md5(header: tuple[int, ...], payload: np.ndarray) -> str:
    return hashlib.md5(struct.pack(f">{len(header)}I", *header) + payload.tobytes()).hexdigest()


@needs_fashion
def test_real_fashion_mnist(isolated, monkeypatch):
    monkeypatch.setattr(FashionMNIST, "system_dirs", (str(FASHION_DIR),))
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    assert train.images_path.parent == FASHION_DIR
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train.targets), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)
    # MD5 of the decompressed files, as listed in the project's shared data notes (fashion-mnist.md)
    assert whole_file_md5((0x803, 60000, 28, 28), train.data) == \
        "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert whole_file_md5((0x801, 60000), train.targets.astype(np.uint8)) == \
        "9018921c3c673c538a1fc5bad174d6f9"
    assert whole_file_md5((0x803, 10000, 28, 28), test.data) == \
        "8181f5470baa50b63fa0f6fddb340f0a"
    assert whole_file_md5((0x801, 10000), test.targets.astype(np.uint8)) == \
        "15d484375f8d13e6eb1aabb0c3f46965"
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    xs, y = test.arrays()
    assert xs.shape == (10000, 1, 28, 28) and xs.dtype == np.float32
    assert xs.min() == 0.0 and xs.max() == 1.0
    assert abs(float(xs.mean()) - 0.2868) < 0.002  # the test split's mean pixel
    xb, yb = next(iter(DataLoader(train, batch_size=256, shuffle=True)))
    assert xb.shape == (256, 1, 28, 28) and xb.dtype == dw.float32 and yb.dtype == dw.int64


# ---- Digits (embedded) --------------------------------------------------------------------------
def test_digits_shapes_dtypes_and_split_sizes():
    train, test = Digits(train=True), Digits(train=False)
    assert (len(train), len(test)) == (1352, 445)
    xs, y = train.arrays()
    assert xs.shape == (1352, 1, 8, 8) and xs.dtype == np.float32 and y.dtype == np.int64
    assert xs.min() == 0.0 and xs.max() == 1.0
    assert train.data.dtype == np.uint8 and train.data.max() == 16
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    assert sorted(train.indices.tolist() + test.indices.tolist()) == list(range(1797))
    image, label = test[0]
    assert image.shape == (1, 8, 8) and isinstance(label, int)
    xb, yb = next(iter(DataLoader(train, batch_size=64, shuffle=True)))
    assert xb.shape == (64, 1, 8, 8) and yb.dtype == dw.int64


def test_digits_class_balance():
    _, labels = _load()
    total = np.bincount(labels, minlength=10)
    assert total.sum() == 1797 and total.min() >= 170
    train, test = np.bincount(Digits(True).targets), np.bincount(Digits(False).targets)
    np.testing.assert_array_equal(test, total // 4)
    np.testing.assert_array_equal(train + test, total)


def test_digits_split_is_deterministic_and_independent_of_the_global_seed():
    dw.manual_seed(1234)
    np.random.seed(99)
    a = Digits(train=False)
    dw.manual_seed(5)
    b = Digits(train=False)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)
    _, labels = _load()
    first = split_indices(labels)
    np.testing.assert_array_equal(first[1], a.indices)
    assert not np.array_equal(split_indices(labels, seed=1)[1], first[1])


def test_digits_files_ship_with_the_package():
    root = Path(dw.__file__).parent / "data" / "datasets" / "files"
    assert (root / "digits.csv.gz").is_file()
    license_text = (root / "DIGITS-LICENSE.md").read_text()
    assert "CC BY 4.0" in license_text and "10.24432/C50P49" in license_text
    # the first row of the file is a 0 (its 65th value)
    with gzip.open(root / "digits.csv.gz", "rt") as f:
        assert f.readline().strip().split(",")[-1] == "0"
