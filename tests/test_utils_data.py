"""deepwise.utils.data: PyTorch's DataLoader signature, the samplers, IterableDataset, and the
thread prefetch behind num_workers."""

import threading

import numpy as np
import pytest

import deepwise as dw
from deepwise.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    get_worker_info,
    random_split,
)


class Squares(Dataset):
    """A map-style dataset without __getitems__: batches go sample by sample."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.float32(i), i * i


def _ds(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))


def test_default_loader_is_the_base_loader_order_and_fast_path():
    loader = DataLoader(_ds(), batch_size=4)
    xs = [yb.tolist() for _, yb in loader]
    assert xs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(loader) == 3
    dw.manual_seed(3)
    a = [yb.tolist() for _, yb in DataLoader(_ds(), batch_size=4, shuffle=True)]
    dw.manual_seed(3)
    b = [yb.tolist() for _, yb in dw.data.DataLoader(_ds(), batch_size=4, shuffle=True)]
    assert a == b and sorted(sum(a, [])) == list(range(10))


def test_sampler_and_batch_sampler():
    order = [9, 0, 8, 1]
    batches = [yb.tolist() for _, yb in DataLoader(_ds(), batch_size=3, sampler=order)]
    assert batches == [[9, 0, 8], [1]]
    bs = BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    loader = DataLoader(Squares(), batch_sampler=[[1, 2], [3]])
    assert [y.tolist() for _, y in loader] == [[1, 4], [9]] and len(loader) == 2
    with pytest.raises(ValueError, match="batch_sampler is mutually exclusive"):
        DataLoader(_ds(), batch_size=4, batch_sampler=bs)
    with pytest.raises(ValueError, match="sampler is mutually exclusive with shuffle"):
        DataLoader(_ds(), sampler=order, shuffle=True)


def test_random_samplers_are_seeded_and_cover_their_indices():
    g = dw.Generator().manual_seed(7)
    first = list(RandomSampler(range(20), generator=g))
    g.manual_seed(7)
    assert list(RandomSampler(range(20), generator=g)) == first
    assert sorted(first) == list(range(20))
    draws = list(RandomSampler(range(5), replacement=True, num_samples=50))
    assert len(draws) == 50 and set(draws) <= set(range(5))
    assert sorted(SubsetRandomSampler([3, 5, 7])) == [3, 5, 7]
    w = WeightedRandomSampler([0.0, 0.0, 1.0, 3.0], num_samples=4000)
    counts = np.bincount(list(w), minlength=4)
    assert counts[:2].sum() == 0 and abs(counts[3] / 4000 - 0.75) < 0.03
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)


def test_iterable_dataset_batches_in_order():
    class Count(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    loader = DataLoader(Count(), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Count(), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError, match="no len"):
        len(loader)
    with pytest.raises(ValueError, match="IterableDataset has no indices"):
        DataLoader(Count(), shuffle=True)


def test_num_workers_prefetches_in_a_thread_with_the_same_batches():
    seen = []

    def init(worker_id):
        seen.append((worker_id, threading.current_thread().name, get_worker_info().id))

    ds = Squares()
    plain = [y.tolist() for _, y in DataLoader(ds, batch_size=3)]
    loader = DataLoader(ds, batch_size=3, num_workers=2, worker_init_fn=init, pin_memory=True,
                        persistent_workers=True, prefetch_factor=1)
    assert [y.tolist() for _, y in loader] == plain
    assert seen == [(0, "deepwise-dataloader", 0)] and get_worker_info() is None
    for _ in DataLoader(ds, batch_size=1, num_workers=1):  # stopping early ends the thread
        break


def test_errors_in_the_prefetch_thread_reach_the_caller():
    class Broken(Squares):
        def __getitem__(self, i):
            if i == 4:
                raise KeyError("sample 4 is broken")
            return super().__getitem__(i)

    with pytest.raises(KeyError, match="sample 4 is broken"):
        list(DataLoader(Broken(), batch_size=2, num_workers=1))


def test_random_split_with_a_generator_and_fractions():
    a, b = random_split(_ds(), [0.7, 0.3], generator=dw.Generator().manual_seed(42))
    c, d = random_split(_ds(), [0.7, 0.3], generator=dw.Generator().manual_seed(42))
    assert isinstance(a, Subset) and len(a) == 7 and len(b) == 3
    assert a.indices.tolist() == c.indices.tolist()
    assert sorted(a.indices.tolist() + b.indices.tolist()) == list(range(10))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        DataLoader(_ds(), num_workers=-1)
    with pytest.raises(ValueError, match="batch_size=None"):
        DataLoader(_ds(), batch_size=None)
    with pytest.raises(ValueError, match="prefetch_factor needs num_workers > 0"):
        DataLoader(_ds(), prefetch_factor=2)
