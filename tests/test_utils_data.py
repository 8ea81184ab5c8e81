"""deepwise.utils.data: PyTorch's DataLoader signature, the samplers, IterableDataset, and the
worker processes behind num_workers."""

import multiprocessing as mp
import os
import time

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


class WhoMadeIt(Squares):
    """Each sample says which process and worker made it, and a draw from deepwise's RNG."""

    def __getitem__(self, i):
        info = get_worker_info()
        return np.float32(i), os.getpid(), info.id, float(dw.rand(1).item())


def _children_gone(timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if not [p for p in mp.active_children() if p.name.startswith("deepwise-dataloader")]:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("shuffle", [False, True])
def test_worker_processes_give_the_batches_of_num_workers_0(shuffle):
    ds = _ds(23)
    dw.manual_seed(5)
    plain = [[x.tolist() for x in b] for _ in range(2) for b in DataLoader(ds, 4, shuffle)]
    dw.manual_seed(5)
    loader = DataLoader(ds, 4, shuffle, num_workers=3, prefetch_factor=1)
    assert [[x.tolist() for x in b] for _ in range(2) for b in loader] == plain
    sampler = SubsetRandomSampler([5, 1, 9, 2, 7], generator=np.random.default_rng(0))
    ref = [b[1].tolist() for b in DataLoader(ds, 2, sampler=sampler)]
    sampler.generator = np.random.default_rng(0)
    assert [b[1].tolist() for b in DataLoader(ds, 2, sampler=sampler, num_workers=2)] == ref
    assert _children_gone()


def test_workers_are_processes_with_info_seeds_and_init_fn():
    def init(worker_id):
        assert get_worker_info().id == worker_id
        dw.manual_seed(100 + worker_id)  # what worker_init_fn is for: per-worker set-up

    batches = list(DataLoader(WhoMadeIt(), batch_size=2, num_workers=2, worker_init_fn=init))
    pids = [int(b[1][0]) for b in batches]
    wids = [int(b[2][0]) for b in batches]
    assert os.getpid() not in pids and len(set(pids)) == 2
    assert wids == [0, 1, 0, 1, 0]  # batch k is made by worker k % 2
    first = [b[3].tolist() for b in batches[:2]]
    assert first[0] == [float(x) for x in np.random.default_rng(100).random(2, np.float32)]
    assert first[0] != first[1]  # each worker its own stream
    assert get_worker_info() is None  # the main process
    # without worker_init_fn each worker is seeded base_seed + id: different, and repeatable
    dw.manual_seed(0)
    a = [b[3].tolist() for b in DataLoader(WhoMadeIt(), batch_size=5, num_workers=2)]
    dw.manual_seed(0)
    b = [b[3].tolist() for b in DataLoader(WhoMadeIt(), batch_size=5, num_workers=2)]
    assert a == b and a[0] != a[1]


def test_persistent_workers_live_on_between_epochs():
    loader = DataLoader(WhoMadeIt(), batch_size=5, num_workers=2, persistent_workers=True)
    e1, e2 = list(loader), list(loader)
    assert {int(b[1][0]) for b in e1} == {int(b[1][0]) for b in e2}  # the same processes
    assert [b[0].tolist() for b in e1] == [b[0].tolist() for b in e2]
    assert e1[0][3].tolist() != e2[0][3].tolist()  # reseeded for the new epoch
    for _ in loader:  # an epoch left early: the next one is still complete and in order
        break
    assert [b[0].tolist() for b in loader] == [b[0].tolist() for b in e1]
    loader._pool.shutdown()
    assert _children_gone()
    fresh = DataLoader(WhoMadeIt(), batch_size=5, num_workers=2)
    assert {int(b[1][0]) for b in fresh} != {int(b[1][0]) for b in list(fresh)}
    assert _children_gone()


def test_iterable_dataset_split_by_worker_info():
    class Stream(IterableDataset):
        def __iter__(self):
            w = get_worker_info()
            return iter(range(w.id, 11, w.num_workers))

    got = [b.tolist() for b in DataLoader(Stream(), batch_size=2, num_workers=2)]
    assert got == [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9]]
    loader = DataLoader(Stream(), batch_size=3, num_workers=2, persistent_workers=True)
    assert list(map(len, loader)) == list(map(len, loader)) == [3, 3, 3, 2]
    loader._pool.shutdown()


def test_errors_in_a_worker_name_the_worker_and_the_indices():
    class Broken(Squares):
        def __getitem__(self, i):
            if i == 5:
                raise KeyError("sample 5 is broken")
            return super().__getitem__(i)

    with pytest.raises(KeyError, match=r"Caught KeyError in DataLoader worker process 0 while "
                                       r"fetching batch 2 \(sample indices \[4, 5\]\)"
                                       r"(.|\n)*Traceback(.|\n)*sample 5 is broken"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))
    assert _children_gone()

    def bad_init(worker_id):
        raise ValueError(f"no set-up for worker {worker_id}")

    with pytest.raises(ValueError, match=r"in DataLoader worker process \d while starting "
                                         r"(.|\n)*no set-up for worker"):
        list(DataLoader(Squares(), batch_size=2, num_workers=2, worker_init_fn=bad_init))
    assert _children_gone()


def test_a_worker_that_dies_is_reported_not_waited_for():
    class Dies(Squares):
        def __getitem__(self, i):
            if i == 3:
                os._exit(3)
            return super().__getitem__(i)

    with pytest.raises(RuntimeError, match=r"DataLoader worker .* exited unexpectedly with exit "
                                           r"code 3"):
        list(DataLoader(Dies(), batch_size=2, num_workers=2))
    assert _children_gone()


@pytest.mark.slow
def test_spawned_workers_get_a_pickled_copy():
    """``multiprocessing_context="spawn"`` (macOS's and Windows' default): the dataset travels
    pickled, each worker imports deepwise afresh (~2 s each under load)."""
    plain = [b[1].tolist() for b in DataLoader(_ds(11), batch_size=4)]
    loader = DataLoader(_ds(11), batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert [b[1].tolist() for b in loader] == plain
    assert _children_gone()


def test_stopping_early_shuts_the_workers_down():
    for _ in DataLoader(_ds(), batch_size=1, num_workers=2):
        break
    assert _children_gone()


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
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(_ds(), persistent_workers=True)
