"""Run under mpirun: N ranks with batch B each against one process with batch N*B.

Every rank builds the model from its own seed (so the broadcast of rank 0's weights matters),
wraps it in DistributedDataParallel and trains a few epochs on its DistributedSampler shard.
Rank 0 also trains a plain copy of rank 0's initial model on batches of N*B drawn from the
same permutations, and a second copy on batches of B (what a rank would do without
averaging). Rank 0 prints one line ``RESULT {json}`` with the largest differences.

    mpirun -n 2 python tests/distributed/equivalence.py [--bucket-cap-mb MB] [--optimizer sgd]
        [--bn none|sync|local]
"""

import argparse
import copy
import json
import sys

import numpy as np

import deepwise as dw
import deepwise.distributed as dist
import deepwise.nn.functional as F
from deepwise import nn, optim
from deepwise.data import TensorDataset
from deepwise.data.distributed import DistributedSampler
from deepwise.io import atomic_write
from deepwise.nn.parallel import DistributedDataParallel, SyncBatchNorm


class Net(nn.Module):
    """Conv [-> BatchNorm] -> pool -> MLP with one layer applied twice (two uses of one weight)
    and one layer the forward never calls (a parameter without a gradient)."""

    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4) if bn else nn.Identity()
        self.fc1 = nn.Linear(4 * 4 * 4, 16)
        self.shared = nn.Linear(16, 16)
        self.unused = nn.Linear(16, 16)
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)
        h = dw.tanh(self.fc1(h))
        h = dw.tanh(self.shared(dw.tanh(self.shared(h))))
        return self.out(h)


def batches(dataset, sampler, batch_size, epoch):
    sampler.set_epoch(epoch)
    idx = sampler.indices()
    x, y = dataset.tensors
    for s in range(0, len(idx), batch_size):
        yield x[idx[s:s + batch_size]], y[idx[s:s + batch_size]]


def state(model):
    """Parameters and float buffers (BatchNorm's running statistics), flat."""
    arrays = [*model.parameters(), *(b for b in model.buffers() if b.data.dtype.kind == "f")]
    return np.concatenate([a.data.ravel() for a in arrays])


def train(model, dataset, sampler, batch_size, epochs, make_opt):
    opt = make_opt(model.parameters())
    for epoch in range(epochs):
        for x, y in batches(dataset, sampler, batch_size, epoch):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bucket-cap-mb", type=float, default=25.0)
    ap.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--result", default=None,
                    help="rank 0 also writes the RESULT json to this file (mpirun's stdout "
                         "forwarding can drop a process's last lines on a busy machine)")
    ap.add_argument("--bn", choices=("none", "sync", "local"), default="none",
                    help="a BatchNorm layer after the conv: SyncBatchNorm on the ranks, or plain "
                    "BatchNorm2d (local statistics); the one-process reference has BatchNorm2d")
    args = ap.parse_args()

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(123)  # the same data on every rank
    n = 12 * args.batch * world
    data = TensorDataset(dw.tensor(rng.standard_normal((n, 1, 8, 8)).astype(np.float32)),
                         dw.tensor(rng.integers(0, 3, n)))

    def make_opt(params):
        if args.optimizer == "sgd":
            return optim.SGD(params, lr=0.1, momentum=0.9)
        return optim.Adam(params, lr=1e-2)

    dw.manual_seed(1000 + rank)  # different initial weights per rank: the broadcast fixes them
    model = Net(bn=args.bn != "none")
    start = copy.deepcopy(model)  # rank 0's copy is the reference's start (plain BatchNorm)
    if args.bn == "sync":
        SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb)
    train(ddp, data, DistributedSampler(data, seed=7), args.batch, args.epochs, make_opt)

    flat = state(model).astype(np.float64)
    lo, hi = flat.copy(), flat.copy()
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    if rank == 0:
        one = train(copy.deepcopy(start), data,
                    DistributedSampler(data, num_replicas=1, rank=0, seed=7),
                    world * args.batch, args.epochs, make_opt)
        alone = train(copy.deepcopy(start), data,
                      DistributedSampler(data, num_replicas=world, rank=0, seed=7),
                      args.batch, args.epochs, make_opt)
        ref = state(one).astype(np.float64)
        own = state(alone).astype(np.float64)
        moved = state(start).astype(np.float64)
        result = json.dumps({
            "world": world, "buckets": len(ddp._buckets), "bn": args.bn,
            "max_diff_vs_one_process": float(np.abs(flat - ref).max()),
            "max_diff_between_ranks": float((hi - lo).max()),
            "max_diff_vs_no_averaging": float(np.abs(flat - own).max()),
            "max_change_from_start": float(np.abs(flat - moved).max()),
            "max_abs_weight": float(np.abs(ref).max()),
            "unused_grad_is_none": all(p.grad is None for p in model.unused.parameters()),
        })
        print("RESULT " + result, flush=True)
        if args.result:
            with atomic_write(args.result) as f:
                f.write(result)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
