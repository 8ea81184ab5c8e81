"""deepwise.distributed, DistributedDataParallel and DistributedSampler.

The fast tests run in this process (the sampler's shards, DDP on a world of one, the errors);
the MPI tests start ``mpirun -n 2`` on the scripts in tests/distributed/ with a timeout and skip
with a message when mpirun or mpi4py is absent. Each launch takes a few seconds, so only the
one-process-equivalence and the raising rank are fast tests; the other launches are slow.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import check_op, needs_torch, rand, torch

import deepwise as dw
import deepwise.distributed as dist
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.data.distributed import DistributedSampler
from deepwise.nn.parallel import DistributedDataParallel, SyncBatchNorm
from deepwise.nn.parallel.sync_batchnorm import sync_batch_norm

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "distributed"


# ---- DistributedSampler -----------------------------------------------------------------------

@pytest.mark.parametrize("n,world", [(10, 3), (12, 2), (1, 4), (7, 1)])
def test_sampler_shards_are_equal_and_cover_the_data(n, world):
    shards = [DistributedSampler(range(n), num_replicas=world, rank=r, seed=3)
              for r in range(world)]
    lists = [list(s) for s in shards]
    assert all(len(x) == len(s) == -(-n // world) for x, s in zip(lists, shards))
    assert set().union(*map(set, lists)) == set(range(n))
    if n % world == 0:  # no padding: the shards are disjoint
        assert sum(map(len, lists)) == len(set().union(*map(set, lists)))


def test_sampler_epochs_and_ranks_share_one_permutation():
    a, b = (DistributedSampler(range(100), num_replicas=2, rank=r, seed=5) for r in (0, 1))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # a new order each epoch
    a.set_epoch(0)
    assert list(a) == first  # ... and the same one again for the same epoch
    one = DistributedSampler(range(100), num_replicas=1, rank=0, seed=5)
    whole, ra, rb = one.indices(), a.indices(), b.indices()
    for k in range(0, 50, 5):  # rank 0's and rank 1's k-th batch of 5 = one process's of 10
        assert sorted(np.r_[ra[k:k + 5], rb[k:k + 5]]) == sorted(whole[2 * k:2 * k + 10])


def test_sampler_drop_last_and_errors():
    s = DistributedSampler(range(11), num_replicas=3, rank=2, shuffle=False, drop_last=True)
    assert list(s) == [2, 5, 8] and len(s) == 3
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be an int >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="not initialised"):
        DistributedSampler(range(4))


# ---- DistributedDataParallel on a world of one (no MPI) -------------------------------------

class OneRank:
    """A process group of one: the Allreduce leaves the array as it is, but counts the calls."""

    rank, size = 0, 1

    def __init__(self):
        self.calls = []

    def allreduce(self, arr, op=None, async_op=False):
        self.calls.append(arr.size)

        class Done:
            def wait(self):
                return True
        return Done()

    def broadcast(self, arr, src=0):
        pass


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 5)
        self.b = nn.Linear(5, 2)
        self.never = nn.Linear(2, 2)

    def forward(self, x):
        return self.b(dw.tanh(self.a(dw.tanh(self.a(x)))))  # self.a used twice


@pytest.mark.parametrize("cap_mb", [25.0, 1e-4, 1e-5])
def test_ddp_gradients_match_plain_backward(cap_mb):
    dw.manual_seed(0)
    model, x, y = Tied(), dw.randn(6, 5), dw.tensor([0, 1, 1, 0, 1, 0])
    F.cross_entropy(model(x), y).backward()
    want = {n: p.grad.data.copy() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    group = OneRank()
    ddp = DistributedDataParallel(model, process_group=group, bucket_cap_mb=cap_mb)
    for _ in range(2):  # twice: the buckets are reset between steps
        model.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        got = {n: p.grad.data for n, p in model.named_parameters() if p.grad is not None}
        assert got.keys() == want.keys()  # the unused layer keeps grad None
        for n in want:
            np.testing.assert_allclose(got[n], want[n], rtol=1e-6, atol=1e-7, err_msg=n)
    n_params = sum(p.data.size for p in model.parameters())
    assert sum(group.calls) == 2 * n_params  # every element in exactly one bucket per step
    # greedy, last layer first: 1e-4 MB (104 bytes) holds never.*, b.*, a.bias; 1e-5 MB one each
    assert len(ddp._buckets) == {25.0: 1, 1e-4: 2, 1e-5: 6}[cap_mb]
    assert list(ddp.state_dict())[0].startswith("module.")


def test_ddp_starts_buckets_during_backward():
    model = Tied()
    group = OneRank()
    ddp = DistributedDataParallel(model, process_group=group, bucket_cap_mb=1e-5)
    a_weight = ddp._names.index("a.weight")
    uses_seen = []
    group.allreduce = lambda arr, op=None, async_op=False: (
        uses_seen.append(ddp._seen[a_weight]), OneRank.allreduce(group, arr))[1]
    ddp(dw.randn(3, 5)).sum().backward()
    # 6 buckets, last layer first: the first starts before the first layer's weight has
    # received either of its two gradients; the one holding it starts after both
    assert uses_seen[0] == 0 and uses_seen[-1] == 2 and len(uses_seen) == 6


def test_ddp_accumulates_like_plain_backward():
    dw.manual_seed(1)
    model, x, y = Tied(), dw.randn(4, 5), dw.tensor([0, 1, 1, 0])
    for _ in range(2):
        F.cross_entropy(model(x), y).backward()
    want = model.a.weight.grad.data.copy()
    model.zero_grad()
    ddp = DistributedDataParallel(model, process_group=OneRank())
    with ddp.no_sync():
        F.cross_entropy(ddp(x), y).backward()
    F.cross_entropy(ddp(x), y).backward()
    np.testing.assert_allclose(model.a.weight.grad.data, want, rtol=1e-6, atol=1e-7)


def test_ddp_errors_are_clear():
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="must be an nn.Module"):
        DistributedDataParallel(lambda x: x, process_group=OneRank())
    model = Tied()
    ddp = DistributedDataParallel(model, process_group=OneRank())
    x = dw.randn(3, 5)
    loss = ddp(x).sum() + (model.a.weight ** 2).sum()  # a penalty outside the forward
    with pytest.raises(RuntimeError, match="'a.weight' got more gradients"):
        loss.backward()
    out = ddp(x)  # re-armed by a fresh forward after the error
    out.sum().backward()
    assert model.b.weight.grad is not None


# ---- SyncBatchNorm on a world of one: BatchNorm (PyTorch's, in training mode) ----------------

def test_sync_batch_norm_op_on_one_rank_is_batch_norm():
    x, w, b = rand(3, 4, 5, 2, seed=1), rand(4, seed=2), rand(4, seed=3)
    check_op(lambda x, w, b: sync_batch_norm(x, None, None, w, b, 0.1, 1e-5, OneRank()),
             [x, w, b],
             lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True,
                                                            momentum=0.1, eps=1e-5))
    check_op(lambda x: sync_batch_norm(x, None, None, None, None, 0.1, 1e-5, OneRank()),
             [rand(5, 3, seed=4)],
             lambda x: torch.nn.functional.batch_norm(x, None, None, training=True))


def test_sync_batchnorm_layer_matches_torch_and_converts():
    dw.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(12, 2), nn.BatchNorm1d(2))
    weight = model[1].weight
    SyncBatchNorm.convert_sync_batchnorm(model, process_group=OneRank())
    assert isinstance(model[1], SyncBatchNorm) and isinstance(model[5], SyncBatchNorm)
    assert model[1].weight is weight  # the same Parameter (an optimizer may hold it)
    model[1].weight.data[...] = [0.5, 1.5, -1.0]
    x = rand(4, 2, 4, 4, seed=5).astype(np.float32)
    for _ in range(2):
        y = model(dw.tensor(x))
    y.sum().backward()
    needs_torch()
    tm = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                             torch.nn.Flatten(), torch.nn.Linear(12, 2), torch.nn.BatchNorm1d(2))
    tm.load_state_dict({k: torch.tensor(np.array(v.data if isinstance(v, dw.Tensor) else v))
                        for k, v in model.state_dict().items()
                        if not k.endswith(("running_mean", "running_var", "tracked"))},
                       strict=False)
    tx = torch.tensor(x)
    for _ in range(2):
        ty = tm(tx)
    ty.sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model[1].running_var.data, tm[1].running_var.numpy(), rtol=1e-5)
    np.testing.assert_allclose(model[0].weight.grad.data, tm[0].weight.grad.numpy(),
                               rtol=1e-4, atol=1e-5)
    model.eval()
    tm.eval()
    np.testing.assert_allclose(model(dw.tensor(x)).data, tm(tx).detach().numpy(), rtol=1e-5,
                               atol=1e-5)


def test_sync_batchnorm_needs_a_group_to_train():
    layer = SyncBatchNorm(3)
    with pytest.raises(RuntimeError, match="SyncBatchNorm: training needs a process group"):
        layer(dw.randn(4, 3))
    layer.eval()
    assert layer(dw.randn(4, 3)).shape == (4, 3)  # eval: the running statistics


def test_collectives_need_a_group():
    assert not dist.is_initialized()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(dw.ones(3))
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")


# ---- two ranks under mpirun ------------------------------------------------------------------

def mpirun(script, *args, n=2, timeout=120):
    """Run tests/distributed/SCRIPT on n ranks; fail (not hang) past ``timeout`` seconds."""
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is absent (apt-get install openmpi-bin libopenmpi-dev)")
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is absent (pip install 'deepwise[distributed]')")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--allow-run-as-root",
           sys.executable, str(SCRIPTS / script), *args]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} hung: still running after {timeout} s\n"
                    f"{e.stdout}\n{e.stderr}")
    return p, time.monotonic() - start


def run_equivalence(*args):
    """Rank 0's result, read from the file it writes (not from mpirun's forwarded stdout,
    which once lost the RESULT line of a run that exited 0, under a full-suite load)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        p, _ = mpirun("equivalence.py", *args, "--result", str(result))
        assert p.returncode == 0, p.stdout + p.stderr
        assert result.exists(), f"rank 0 wrote no result\n{p.stdout}\n{p.stderr}"
        return json.loads(result.read_text())


@pytest.mark.parametrize("args", [
    pytest.param((), id="one-bucket-sgd"),
    pytest.param(("--bucket-cap-mb", "0.001", "--optimizer", "adam"), id="seven-buckets-adam",
                 marks=pytest.mark.slow),
    pytest.param(("--bn", "sync"), id="sync-batchnorm", marks=pytest.mark.slow)])
def test_two_ranks_batch_b_equal_one_process_batch_2b(args):
    r = run_equivalence(*args)
    assert r["world"] == 2 and r["buckets"] == (7 if "--bucket-cap-mb" in args else 1)
    assert r["max_diff_between_ranks"] == 0.0  # the replicas stay bit-identical
    assert r["max_diff_vs_one_process"] < 1e-5 * max(1.0, r["max_abs_weight"])  # float32
    assert r["max_change_from_start"] > 0.05  # the weights did move ...
    assert r["max_diff_vs_no_averaging"] > 1e-2  # ... and without averaging they differ
    assert r["unused_grad_is_none"]


@pytest.mark.slow
def test_local_batchnorm_is_not_the_big_batch():
    """What the docs say: plain BatchNorm under DDP normalises per rank's batch of B."""
    r = run_equivalence("--bn", "local")
    assert r["max_diff_vs_one_process"] > 1e-3


def test_a_rank_that_raises_ends_the_job_with_its_message():
    p, seconds = mpirun("failing_rank.py", "raise", timeout=90)
    assert p.returncode != 0
    assert "rank 1 of 2 failed: ValueError: rank 1 broke on purpose; aborting all ranks" \
        in p.stderr
    assert "should not have" not in p.stdout


@pytest.mark.slow
def test_a_killed_rank_ends_the_job():
    p, _ = mpirun("failing_rank.py", "kill", timeout=90)
    assert p.returncode != 0
    assert "signal 9" in p.stdout + p.stderr
    assert "should not have" not in p.stdout


def run_cli(*args, n=2, timeout=300):
    """``mpirun -n N python -m deepwise.cli ARGS``."""
    if shutil.which("mpirun") is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpirun or mpi4py is absent (apt-get install openmpi-bin libopenmpi-dev; "
                    "pip install 'deepwise[distributed]')")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--allow-run-as-root", sys.executable,
           "-m", "deepwise.cli", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} hung: still running after {timeout} s\n{e.stderr}")


@pytest.mark.slow
def test_train_cnn_distributed_learns_and_rank_0_writes(tmp_path):
    from deepwise import models

    out = tmp_path / "run"
    p = run_cli("train", "cnn", "--data", "digits", "--distributed", "--epochs", "3",
                "--batch-size", "32", "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("test accuracy") == 1  # rank 0 alone prints
    assert "2 ranks, 32 samples per rank and step" in p.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["train_size"] == 1217 and metrics["epochs_run"] == 3
    assert metrics["test_accuracy"] > 0.9  # chance is 0.1; 3 epochs of 2 x 32 reach ~0.96
    model, _ = models.load(out / "model.safetensors", expected=("cnn",))  # plain keys
    assert not any(k.startswith("module.") for k in model.state_dict())
    assert sorted(os.listdir(out)) == ["metrics.json", "model.safetensors"]
