"""Throughput of `pdegen build recipes/darcy.yaml` with P = 1 and P = 2 MPI ranks (one
rank per system), whole command wall time (start-up, ordering, writing included),
alternating P = 1 and P = 2 runs, median of repeats.

Usage: python benchmarks/parallel_throughput.py [--samples 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402


def run(ranks: int, samples: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build",
               str(ROOT / "recipes" / "darcy.yaml"), "--samples", str(samples), "--out", str(out), "-q"]
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=500, help="500: recipes/darcy.yaml as shipped")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for ranks in (1, 2):
                times[ranks].append(run(ranks, args.samples, Path(tmp) / f"p{ranks}.zarr"))
                print(ranks, times[ranks][-1], flush=True)
    t1, t2 = np.median(times[1]), np.median(times[2])
    rows = [[p, f"{np.median(times[p]):.2f}", f"{args.samples / np.median(times[p]):.1f}"] for p in (1, 2)]
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    plan = make_plan(load_recipe(ROOT / "recipes" / "darcy.yaml"))
    write_section("parallel_throughput", (
        f"`pdegen build recipes/darcy.yaml --samples {args.samples}` (128x128, planner: {plan.method} + "
        f"{plan.preconditioner}), whole command, median of {args.repeats} alternating runs.\n\n"
        + table(["ranks", "seconds", "samples/s"], rows)
        + f"\n\nSpeed-up P=2 over P=1: **{t1 / t2:.2f}x** (2 cores)."), petsc=True)
    print(f"speedup {t1 / t2:.2f}")


if __name__ == "__main__":
    main()
