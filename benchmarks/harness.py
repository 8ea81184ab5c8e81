"""Side-by-side timing of deepwise and PyTorch: each library in its own process, alternating.

Why separate processes: NumPy's OpenBLAS threads and PyTorch's OpenMP threads slow each other
down inside one process (measured up to 2.5x), which would flatter deepwise. Both sides get the
same thread count (2 by default) and the same data (generated from the same NumPy seed).

A benchmark module defines ``CASES`` (a list of dicts with a ``name``) and two functions,
``deepwise_step(case)`` and ``torch_step(case)``, each returning ``(step, items)``: a callable
doing one timed unit of work and how many items (samples, tokens) it processes.

Run: ``python -m benchmarks.harness benchmarks.bench_mlp [--rounds 5] [--threads 2]
[--numpy-path]``.

deepwise runs with its optional compiled kernels (``deepwise.kernels``, numba) when numba is
installed - the header says which; ``--numpy-path`` adds a column timed with them switched off
(``DEEPWISE_NUMBA=0``: what a user without numba runs), in the same alternating rounds.

The GEMM share column: after the timed rounds of a case, one more deepwise process runs the step
under py-spy (``pip install py-spy``; a sampling profiler that sees native frames), and the share
is the fraction of the main thread's samples inside the timed loop whose stack is in a BLAS GEMM
routine (``*gemm*``: sgemm/dgemm and their copy and kernel routines, with the wait for
OpenBLAS's worker thread). NumPy's ``a @ b`` is a C call that cProfile cannot see; sampling the
native stack can. It is the distance to the limit: a step that is 40% GEMM could at best run
2.5x faster by removing everything else. Without py-spy the column says so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def _load() -> str:
    """The 1-minute load average (a figure taken above ~0.3 is labelled "under load")."""
    one = os.getloadavg()[0]
    return f"{one:.2f}" + ("" if one < 0.3 else " (under load)")


def _kernels() -> str:
    """Whether deepwise's optional numba kernels are on in the deepwise workers."""
    from deepwise import kernels

    if not kernels.available():
        return "off (numba not installed)"
    return "on (numba)" if kernels.enabled() else "off (DEEPWISE_NUMBA=0)"


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def time_step(step: Any, items: int, min_time: float = 1.0, warmup: int = 3) -> dict:
    """Items per second of ``step``, after warm-up, over at least ``min_time`` seconds."""
    for _ in range(warmup):
        step()
    return _timed(step, items, min_time)


def _timed(step: Any, items: int, min_time: float) -> dict:
    """The timed loop (its own frame, so the GEMM share counts its samples only)."""
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time and n >= 3:
            break
    return {"items_per_s": items * n / elapsed, "s_per_step": elapsed / n, "steps": n}


def gemm_share(module: str, case_name: str, threads: int, env: dict,
               min_time: float = 3.0) -> str:
    """The share of the deepwise step's wall time spent in BLAS GEMM calls (see the module
    docstring), as ``"37%"``; a short reason when py-spy is missing or fails."""
    spy = shutil.which("py-spy")
    if spy is None:
        return "n/a (pip install py-spy)"
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "stacks.txt")
        cmd = [spy, "record", "--native", "--rate", "250", "--format", "raw",
               "--output", raw, "--", sys.executable, "-m", "benchmarks.harness", "--worker",
               module, "deepwise", case_name, "--threads", str(threads),
               "--min-time", str(min_time)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0 or not os.path.exists(raw):
            return "n/a (py-spy: " + (out.stderr.strip().splitlines() or ["failed"])[-1] + ")"
        timed = gemm = 0
        with open(raw) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if "_timed (" not in stack:
                    continue
                timed += int(count)
                if "gemm" in stack.split("_timed (", 1)[1].lower():
                    gemm += int(count)
    return f"{100 * gemm / timed:.0f}%" if timed else "n/a (no samples)"


def _worker(module: str, lib: str, case_name: str, threads: int, min_time: float) -> None:
    _set_threads(threads)
    mod = importlib.import_module(module)
    case = next(c for c in mod.CASES if c["name"] == case_name)
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
    step, items = getattr(mod, f"{lib}_step")(case)
    print(json.dumps(time_step(step, items, min_time=min_time)))


def run(module: str, rounds: int = 5, threads: int = 2, min_time: float = 1.0,
        only: str | None = None, gemm: bool = True, numpy_path: bool = False) -> list[dict]:
    """Run every case of ``module`` ``rounds`` times per library, alternating; print a table."""
    mod = importlib.import_module(module)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    results = []
    for case in mod.CASES:
        if only and only not in case["name"]:
            continue
        got: dict[str, list[float]] = {"deepwise": [], "torch": [], "numpy": []}
        libs = ("deepwise", "torch") + (("numpy",) if numpy_path else ())
        for r in range(rounds):
            order = libs if r % 2 == 0 else libs[::-1]
            for lib in order:
                wenv = dict(env, DEEPWISE_NUMBA="0") if lib == "numpy" else env
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.harness", "--worker", module,
                     "torch" if lib == "torch" else "deepwise", case["name"], "--threads",
                     str(threads), "--min-time", str(min_time)],
                    capture_output=True, text=True, env=wenv, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"{module} {lib} {case['name']} failed:\n{out.stderr}")
                got[lib].append(json.loads(out.stdout.strip().splitlines()[-1])["items_per_s"])
        dwm, thm = statistics.median(got["deepwise"]), statistics.median(got["torch"])
        row = {"case": case["name"], "deepwise": dwm, "torch": thm, "ratio": dwm / thm,
               "unit": case.get("unit", "items/s"),
               "spread_dw": (min(got["deepwise"]), max(got["deepwise"])),
               "spread_torch": (min(got["torch"]), max(got["torch"]))}
        load = _load()  # after the timed rounds, before the profiled run
        row["gemm_share"] = gemm_share(module, case["name"], threads, env) if gemm else "-"
        results.append(row)
        (a, b), (c, d) = row["spread_dw"], row["spread_torch"]
        extra = ""
        if numpy_path:
            npm = statistics.median(got["numpy"])
            row["numpy_ratio"] = npm / thm
            extra = f" {npm:,.0f} ({npm / thm:.2f}x) |"
        print(f"| {row['case']} | {dwm:,.0f} ({a:,.0f}-{b:,.0f}) | "
              f"{thm:,.0f} ({c:,.0f}-{d:,.0f}) | {row['ratio']:.2f}x ({a / d:.2f}-{b / c:.2f}) |"
              f"{extra} {row['gemm_share']} | {row['unit']} | {load} |", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("module")
    p.add_argument("lib", nargs="?")
    p.add_argument("case", nargs="?")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--only", help="run only the cases whose name contains this")
    p.add_argument("--no-gemm-share", action="store_true",
                   help="skip the profiled run that measures the step's GEMM share")
    p.add_argument("--numpy-path", action="store_true",
                   help="also time deepwise with its compiled kernels off (DEEPWISE_NUMBA=0)")
    a = p.parse_args(argv)
    if a.worker:
        _worker(a.module, a.lib, a.case, a.threads, a.min_time)
        return
    print(f"{a.module}: medians (min-max) of {a.rounds} runs per library, {a.threads} threads "
          f"each, separate processes, alternating; deepwise's compiled kernels: {_kernels()}; "
          f"load average before: {_load()}")
    npcol = " deepwise, NumPy path (ratio) |" if a.numpy_path else ""
    print(f"| case | deepwise | PyTorch | deepwise/PyTorch (range) |{npcol} GEMM share of the "
          "deepwise step | unit | load after |")
    print("|---|---:|---:|---:|" + ("---:|" if a.numpy_path else "") + "---:|---|---|")
    run(a.module, a.rounds, a.threads, a.min_time, a.only, gemm=not a.no_gemm_share,
        numpy_path=a.numpy_path)


if __name__ == "__main__":
    main()
