"""Rerun every benchmark that writes a section of docs/benchmarks.md, one after another
(`make bench`). Each script is a separate process, so one failure does not stop the
others; the exit status is non-zero if any failed. The GPU check runs only where CUDA is
available. Expect an hour or more on two cores.

Usage: python benchmarks/run_all.py [NAME ...]   (names without .py; default: all)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Cheapest first, so a partial run still refreshes most sections.
SCRIPTS = ["iteration_cost", "recycling_gains", "ordering", "parallel_ordering", "verify_speed", "compression",
           "loader_speed", "families_bench", "multigrid_variants", "semi_coarsening", "odd_grids", "contrast",
           "sharp_jumps", "sharp_jumps --three-d", "sharp_jumps --ranks 2",
           "blas_threads", "darcy_goals", "planner_crossover",
           "time_dependent_crossover", "time_dependent_3d",
           "fixed_operator_3d", "nonsymmetric_crossover", "nonsymmetric_multigrid", "ablation", "parallel_throughput",
           "distributed_nonsymmetric", "distributed_multigrid", "skr_table1", "skr_seed_spread", "train_darcy",
           "nonsymmetric_crossover --beyond-direct", "nonsymmetric_multigrid --fallback",
           "distributed_multigrid --three-d", "warm_start", "time_accuracy", "boundary_multigrid", "burgers",
           "train_normalization", "navier_stokes", "graded_start", "export_speed"]


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def main(names: list[str]) -> int:
    unknown = [n for n in names if not (HERE / f"{n.split()[0]}.py").exists()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(SCRIPTS + ['train_gpu'])}")
        return 2
    todo = names or SCRIPTS + (["train_gpu"] if cuda_available() else [])
    failed = []
    for name in todo:
        script, *options = name.split()  # an entry may carry options ("nonsymmetric_crossover --beyond-direct")
        args = [sys.executable, str(HERE / f"{script}.py"), *options] + (["--record"] if name == "train_gpu" else [])
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        # The numbers in docs/benchmarks.md were measured with single-threaded OpenBLAS (numpy's
        # and PETSc's; see benchmarks/blas_threads.py); blas_threads sets its own.
        env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
        if subprocess.run(args, env=env).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
