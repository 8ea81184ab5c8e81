"""The data pipeline: datasets, DataLoader (fast path and collate path), splits, transforms."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import deepwise as dw
from deepwise.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
    supports_batch_indexing,
)
from deepwise.data.transforms import Compose, normalize, random_crop, random_horizontal_flip

try:
    import torch
except ImportError:
    torch = None


def make_xy(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 4, 4)).astype(np.float32), np.arange(n, dtype=np.int64)


class Counting(TensorDataset):
    """A TensorDataset that counts how it is indexed."""

    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.batch_calls = 0
        self.item_calls = 0

    def __getitems__(self, indices):
        self.batch_calls += 1
        return super().__getitems__(indices)

    def __getitem__(self, index):
        self.item_calls += 1
        return super().__getitem__(index)


class Squares(Dataset):
    """A plain map-style dataset (no __getitems__): sample i = (array [i, i], i*i)."""

    def __init__(self, n: int = 7):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i], dtype=np.float32), i * i


def epoch_labels(loader: DataLoader) -> list[int]:
    return np.concatenate([yb.numpy() for _, yb in loader]).tolist()


# ---- TensorDataset ------------------------------------------------------------------------------
def test_tensor_dataset_items_and_arrays():
    xs, y = make_xy(6)
    ds = TensorDataset(dw.from_numpy(xs), y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert isinstance(xi, dw.Tensor) and xi.shape == (3, 4, 4)
    np.testing.assert_array_equal(xi.numpy(), xs[4])
    assert yi.item() == 4
    xb, yb = ds.__getitems__([5, 0, 2])
    np.testing.assert_array_equal(xb, xs[[5, 0, 2]])
    np.testing.assert_array_equal(yb, [5, 0, 2])
    assert supports_batch_indexing(ds)


def test_tensor_dataset_size_mismatch_names_the_sizes():
    with pytest.raises(ValueError, match=r"\[5, 4\]") as err:
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    assert "(5, 2)" in str(err.value) and "(4,)" in str(err.value)
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(1.0))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_dataset_is_abstract():
    class OnlyItem(Dataset):
        def __getitem__(self, i):
            return i

    with pytest.raises(TypeError):
        OnlyItem()


# ---- DataLoader ---------------------------------------------------------------------------------
def test_loader_shapes_dtypes_len_and_order():
    xs, y = make_xy(10)
    loader = DataLoader(TensorDataset(xs, y), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3, 4, 4), (4, 3, 4, 4), (2, 3, 4, 4)]
    for xb, yb in batches:
        assert isinstance(xb, dw.Tensor) and isinstance(yb, dw.Tensor)
        assert xb.dtype == dw.float32 and yb.dtype == dw.int64
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), xs)
    assert epoch_labels(loader) == list(range(10))


def test_loader_drop_last():
    xs, y = make_xy(10)
    loader = DataLoader(TensorDataset(xs, y), batch_size=4, drop_last=True, shuffle=True)
    assert len(loader) == 2
    sizes = [xb.shape[0] for xb, _ in loader]
    assert sizes == [4, 4]
    assert len(DataLoader(TensorDataset(xs, y), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(TensorDataset(xs, y), batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(TensorDataset(xs, y), batch_size=11, drop_last=True)) == []


def test_shuffle_is_a_permutation_and_repeatable_with_manual_seed():
    xs, y = make_xy(50)
    loader = DataLoader(TensorDataset(xs, y), batch_size=8, shuffle=True)
    dw.manual_seed(123)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != list(range(50))
    assert first != second  # a fresh order every epoch
    dw.manual_seed(123)
    assert epoch_labels(loader) == first and epoch_labels(loader) == second
    dw.manual_seed(124)
    assert epoch_labels(loader) != first


def test_shuffle_with_own_generator():
    xs, y = make_xy(30)
    ds = TensorDataset(xs, y)
    a = epoch_labels(DataLoader(ds, 7, shuffle=True, generator=np.random.default_rng(5)))
    dw.manual_seed(999)  # the global seed must not matter when a generator is given
    b = epoch_labels(DataLoader(ds, 7, shuffle=True, generator=np.random.default_rng(5)))
    assert a == b and sorted(a) == list(range(30))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(ds, generator=5)


def test_loader_argument_errors():
    ds = TensorDataset(*make_xy(4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(ds, collate_fn=3)


def test_one_fancy_index_per_batch():
    xs, y = make_xy(23)
    ds = Counting(xs, y)
    loader = DataLoader(ds, batch_size=5, shuffle=True)
    batches = list(loader)
    assert len(batches) == 5 == ds.batch_calls
    assert ds.item_calls == 0
    # a Subset of an array-backed dataset keeps the fast path: one parent call per batch
    ds.batch_calls = 0
    sub = Subset(ds, np.arange(3, 20))
    labels = epoch_labels(DataLoader(sub, batch_size=4))
    assert labels == list(range(3, 20))
    assert ds.batch_calls == 5 and ds.item_calls == 0


def test_custom_collate_gets_the_samples():
    xs, y = make_xy(9)
    ds = Counting(xs, y)
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [int(s[1].item()) for s in samples]

    out = list(DataLoader(ds, batch_size=4, collate_fn=collate))
    assert seen == [4, 4, 1]
    assert out == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert ds.batch_calls == 0 and ds.item_calls == 9


def test_plain_dataset_goes_through_default_collate():
    loader = DataLoader(Squares(7), batch_size=3)
    assert not supports_batch_indexing(Squares())
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    xb, yb = batches[1]
    assert xb.shape == (3, 2) and xb.dtype == dw.float32
    assert yb.dtype == dw.int64 and yb.tolist() == [9, 16, 25]


def test_default_collate_structures():
    Pair = namedtuple("Pair", "a b")
    batch = default_collate([{"x": 1.5, "y": Pair(np.int32(1), "s"), "z": (True, [1, 2])},
                             {"x": 2.0, "y": Pair(np.int32(2), "t"), "z": (False, [3, 4])}])
    assert batch["x"].dtype == dw.float32 and batch["x"].tolist() == [1.5, 2.0]
    assert isinstance(batch["y"], Pair) and batch["y"].a.dtype == dw.int32
    assert batch["y"].b == ["s", "t"]
    flags, pairs = batch["z"]
    assert flags.dtype == dw.bool and flags.tolist() == [True, False]
    assert [p.tolist() for p in pairs] == [[1, 3], [2, 4]]
    stacked = default_collate([dw.ones(2, 3), dw.zeros(2, 3)])
    assert stacked.shape == (2, 2, 3)


def test_default_collate_errors():
    with pytest.raises(ValueError, match=r"sample 1 has shape \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


def test_getitems_returning_a_list_of_samples_is_collated():
    class TorchStyle(Squares):
        def __getitems__(self, indices):
            return [self[int(i)] for i in indices]

    xb, yb = next(iter(DataLoader(TorchStyle(5), batch_size=5)))
    assert xb.shape == (5, 2) and yb.tolist() == [0, 1, 4, 9, 16]


# ---- Subset, random_split, ConcatDataset -------------------------------------------------------
def test_subset():
    xs, y = make_xy(10)
    sub = Subset(TensorDataset(xs, y), [7, 2, 2])
    assert len(sub) == 3 and sub[0][1].item() == 7
    assert sub.__getitems__([2, 0])[1].tolist() == [2, 7]
    with pytest.raises(IndexError, match="out of range"):
        Subset(TensorDataset(xs, y), [10])
    plain = Subset(Squares(5), [4, 1])
    assert plain[0][1] == 16 and not supports_batch_indexing(plain)
    assert [b[1].tolist() for b in DataLoader(plain, batch_size=2)] == [[16, 1]]


@pytest.mark.filterwarnings("ignore:Length of split")  # torch's warning on an empty part
@pytest.mark.parametrize("n, fractions", [(10, [0.8, 0.2]), (7, [0.5, 0.5]),
                                          (11, [0.3, 0.3, 0.4]), (5, [0.1, 0.1, 0.8]),
                                          (101, [1 / 3, 1 / 3, 1 / 3])])
def test_random_split_fraction_lengths_match_torch(n, fractions):
    parts = random_split(TensorDataset(np.arange(n)), fractions)
    lengths = [len(p) for p in parts]
    assert sum(lengths) == n
    if torch is not None:
        ref = torch.utils.data.random_split(range(n), fractions,
                                            generator=torch.Generator().manual_seed(0))
        assert lengths == [len(r) for r in ref]


def test_random_split_partitions_and_repeats():
    ds = TensorDataset(np.arange(20))
    dw.manual_seed(7)
    parts = random_split(ds, [5, 15])
    got = [p.indices.tolist() for p in parts]
    assert sorted(got[0] + got[1]) == list(range(20))
    dw.manual_seed(7)
    assert [p.indices.tolist() for p in random_split(ds, [5, 15])] == got
    again = random_split(ds, [5, 15], generator=np.random.default_rng(1))
    same = random_split(ds, [5, 15], generator=np.random.default_rng(1))
    assert [p.indices.tolist() for p in again] == [p.indices.tolist() for p in same]
    with pytest.raises(ValueError, match="sum to 19"):
        random_split(ds, [5, 14])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(ds, [25, -5])


def test_concat_dataset():
    a = TensorDataset(np.zeros((3, 2), np.float32), np.arange(3))
    b = TensorDataset(np.ones((4, 2), np.float32), np.arange(10, 14))
    cat = a + b
    assert isinstance(cat, ConcatDataset) and len(cat) == 7 and cat.cumulative_sizes == [3, 7]
    assert [cat[i][1].item() for i in range(7)] == [0, 1, 2, 10, 11, 12, 13]
    assert cat[-1][1].item() == 13 and cat[-7][1].item() == 0
    with pytest.raises(IndexError):
        cat[7]
    idx = [5, 0, 6, 2, 3]
    xb, yb = cat.__getitems__(idx)
    assert yb.tolist() == [12, 0, 13, 2, 10]
    np.testing.assert_array_equal(xb[:, 0], [1, 0, 1, 0, 1])
    dw.manual_seed(0)
    assert sorted(epoch_labels(DataLoader(cat, batch_size=3, shuffle=True))) == \
        [0, 1, 2, 10, 11, 12, 13]
    mixed = ConcatDataset([Squares(2), Squares(3)])
    assert not supports_batch_indexing(mixed)
    assert [b[1].tolist() for b in DataLoader(mixed, batch_size=5)] == [[0, 1, 0, 1, 4]]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


# ---- transforms ----------------------------------------------------------------------------------
def test_normalize_per_channel_and_scalar():
    x = np.random.default_rng(0).random((5, 3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.5, 0.9], [0.2, 0.4, 0.8]
    out = normalize(x, mean, std)
    ref = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(normalize(x, 0.5, 2.0), (x - 0.5) / 2, rtol=1e-6)
    t = normalize(dw.from_numpy(x), mean, std)
    assert isinstance(t, dw.Tensor)
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-6)
    u8 = normalize(np.full((1, 1, 2, 2), 255, np.uint8), 0.0, 255.0)
    assert u8.dtype == np.float32 and np.all(u8 == 1.0)


def test_normalize_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="2 values .* 3 channels"):
        normalize(x, [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-zero"):
        normalize(x, 0.0, 0.0)
    with pytest.raises(TypeError, match="NumPy array or a Tensor"):
        normalize([1.0], 0.0, 1.0)


def test_random_crop_is_a_crop_of_the_padded_image():
    x = np.random.default_rng(1).random((40, 2, 6, 5)).astype(np.float32)
    out = random_crop(x, (6, 5), padding=2, generator=np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for k in range(len(x)):
        hits = [(i, j) for i in range(5) for j in range(5)
                if np.array_equal(padded[k, :, i:i + 6, j:j + 5], out[k])]
        assert hits, f"sample {k} is not a crop of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets differ between samples
    same = random_crop(x, (6, 5), padding=2, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(out, same)


def test_random_crop_smaller_size_and_identity():
    x = np.arange(2 * 1 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5)
    np.testing.assert_array_equal(random_crop(x, 5), x)
    out = random_crop(dw.from_numpy(x), 3)
    assert isinstance(out, dw.Tensor) and out.shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match="does not fit"):
        random_crop(x, 6)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_crop(x[0], 3)


def test_random_horizontal_flip():
    x = np.random.default_rng(2).random((64, 1, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(random_horizontal_flip(x, p=0.0), x)
    np.testing.assert_array_equal(random_horizontal_flip(x, p=1.0), x[..., ::-1])
    out = random_horizontal_flip(x, generator=np.random.default_rng(3))
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54
    again = random_horizontal_flip(x, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(out, again)
    with pytest.raises(ValueError, match="p must be"):
        random_horizontal_flip(x, p=1.5)


def test_compose_applies_in_order():
    tf = Compose([lambda x: x + 1, lambda x: x * 10])
    np.testing.assert_array_equal(tf(np.zeros(2)), [10.0, 10.0])
    assert "Compose" in repr(tf)
    with pytest.raises(TypeError, match="not callable"):
        Compose([1])


def test_transform_through_the_loader_with_seeded_augmentation():
    x = np.random.default_rng(4).random((16, 1, 6, 6)).astype(np.float32)

    class Augmented(TensorDataset):
        def __getitems__(self, indices):
            xb, yb = super().__getitems__(indices)
            return random_horizontal_flip(random_crop(xb, 6, padding=1)), yb

    loader = DataLoader(Augmented(x, np.arange(16)), batch_size=8, shuffle=True)
    dw.manual_seed(11)
    a = [xb.numpy() for xb, _ in loader]
    dw.manual_seed(11)
    b = [xb.numpy() for xb, _ in loader]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
