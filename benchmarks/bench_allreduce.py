"""What data parallelism costs here: Allreduce time vs message size, and the training step of
``deepwise train cnn`` (SmallCNN, batch 64 per rank, DistributedDataParallel) at 1 and 2 ranks.

Run: ``python -m benchmarks.bench_allreduce [--ranks 1 2] [--min-time 1.0]``; it starts
``mpirun -n R`` on itself (``--worker``) for each R and prints one table, with ``uptime``.

* Allreduce: ``comm.Allreduce(IN_PLACE, x)`` on float32 arrays of 1e3 .. 1e7 elements, and of
  the SmallCNN's and the translation Transformer's parameter counts (vocabularies 4243 / 6104,
  as on the Tatoeba split); the time is the slowest rank's median. The Transformer's once more
  in 1 MB pieces (what ``bucket_cap_mb=1`` would send). ``bus GB/s = 2 (N-1)/N * bytes /
  time`` is the bandwidth a ring Allreduce needs (NCCL's "busbw"), the figure that carries over
  to other rank counts.
* Step: forward, cross-entropy, backward (with the bucketed Allreduce in it) and Adam on a
  fixed batch of 64 28x28 images per rank; samples/s counts all ranks.

This machine has 2 cores shared with other jobs, so 2 ranks cannot be faster than 1: the
figures measure the overhead of the communication, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
BATCH = 64


def _param_counts() -> dict[str, int]:
    from deepwise import models

    cnn = models.build({"model": "cnn", "in_channels": 1, "num_classes": 10, "image_size": 28})
    tr = models.build({"model": "translation-transformer", "src_vocab_size": 4243,
                       "tgt_vocab_size": 6104, "d_model": 256, "nhead": 4,
                       "num_encoder_layers": 2, "num_decoder_layers": 2,
                       "dim_feedforward": 512})
    return {"SmallCNN": sum(p.data.size for p in cnn.parameters()),
            "Transformer (translation)": sum(p.data.size for p in tr.parameters())}


def _timed(fn: Any, comm: Any, min_time: float) -> float:
    """The median seconds of ``fn()`` over >= min_time, the slowest rank's (all ranks agree on
    the number of repeats, so the collectives pair up)."""
    from mpi4py import MPI

    for _ in range(2):
        fn()
    comm.Barrier()
    t0 = time.perf_counter()
    fn()
    reps = int(comm.allreduce(max(3, int(min_time / max(time.perf_counter() - t0, 1e-6))),
                              op=MPI.MAX))
    times = []
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(comm.allreduce(statistics.median(times), op=MPI.MAX))


def worker(min_time: float) -> None:
    from mpi4py import MPI

    import deepwise as dw
    import deepwise.distributed as dist
    import deepwise.nn.functional as F
    from deepwise import models, optim
    from deepwise.nn.parallel import DistributedDataParallel

    dist.init_process_group()
    comm, world = MPI.COMM_WORLD, dist.get_world_size()
    counts = _param_counts()
    rows = []
    for label, n in [(f"{s:,} floats", s) for s in SIZES] + [(k, v) for k, v in counts.items()]:
        x = np.ones(n, np.float32)
        t = _timed(lambda x=x: comm.Allreduce(MPI.IN_PLACE, x), comm, min_time)
        bus = 2 * (world - 1) / world * x.nbytes / t / 1e9 if world > 1 else float("nan")
        rows.append({"what": label, "elements": n, "ms": t * 1e3, "bus_GBps": bus})
    n = counts["Transformer (translation)"]  # the same bytes, in DDP's 1 MB buckets
    chunks = [np.ones(c.size, np.float32) for c in np.array_split(np.empty(n), -(-n // 2**18))]
    t = _timed(lambda: [comm.Allreduce(MPI.IN_PLACE, c) for c in chunks], comm, min_time)
    rows.append({"what": f"Transformer in {len(chunks)} buckets of 1 MB", "elements": n,
                 "ms": t * 1e3, "bus_GBps": 2 * (world - 1) / world * n * 4 / t / 1e9
                 if world > 1 else float("nan")})
    dw.manual_seed(0)
    model = DistributedDataParallel(models.build({"model": "cnn", "in_channels": 1,
                                                  "num_classes": 10, "image_size": 28}))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(dist.get_rank())
    xb = dw.tensor(rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32))
    yb = dw.tensor(rng.integers(0, 10, BATCH))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    t = _timed(step, comm, min_time)
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps({"world": world, "allreduce": rows,
                                      "step_s": t, "samples_per_s": world * BATCH / t}))
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.min_time)
        return
    if shutil.which("mpirun") is None:
        sys.exit("bench_allreduce: mpirun is absent (apt-get install openmpi-bin libopenmpi-dev)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results = {}
    for r in args.ranks:
        cmd = ["mpirun", "-n", str(r), "--oversubscribe", "--allow-run-as-root", sys.executable,
               "-m", "benchmarks.bench_allreduce", "--worker", "--min-time", str(args.min_time)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"bench_allreduce: {' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
        results[r] = json.loads(line[len("RESULT "):])
    print(f"machine load: {load}  (1 thread per rank; figures under load)")
    for r, res in results.items():
        if r == 1:
            continue
        print(f"\nAllreduce, {r} ranks (float32, in place, slowest rank's median)")
        print(f"{'message':<40}{'elements':>12}{'ms':>10}{'bus GB/s':>10}")
        for row in res["allreduce"]:
            print(f"{row['what']:<40}{row['elements']:>12,}{row['ms']:>10.3f}"
                  f"{row['bus_GBps']:>10.2f}")
    print(f"\nSmallCNN training step, batch {BATCH} per rank (DDP, Adam)")
    print(f"{'ranks':<8}{'s/step':>10}{'samples/s':>12}")
    for r, res in results.items():
        print(f"{r:<8}{res['step_s']:>10.4f}{res['samples_per_s']:>12.1f}")


if __name__ == "__main__":
    main()
