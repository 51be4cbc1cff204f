"""Rank 0's ordering work under MPI: similarity features of N samples computed by every rank
(a block each, gathered on rank 0) against one rank alone, then the KD-tree order on rank 0.

Runs itself under ``mpiexec -n P`` for each P, alternating, median of repeats; every run
checks that the gathered features equal a serial computation's (so the order is the same).
At 0.5-0.8 ms per sample, one rank alone computing the features of N = 100,000 samples
would keep every other rank waiting about a minute before the first solve.

Usage: python benchmarks/parallel_ordering.py [--samples 4000] [--ranks 1 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402


def worker(samples: int) -> None:
    """One run under mpiexec: time the gather and the order; rank 0 prints JSON."""
    from pdegen.build import gather_features, sample_features
    from pdegen.mpi import world
    from pdegen.ordering import kdtree_order
    from pdegen.recipe import load_recipe
    comm = world()
    recipe = load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={samples}"])
    comm.barrier()
    start = time.perf_counter()
    features = gather_features(recipe.data, recipe.family, comm)
    if comm.Get_rank() == 0:
        gathered = time.perf_counter() - start
        kdtree_order(features)
        ordered = time.perf_counter() - start - gathered
        check = [0, samples // 2, samples - 1]  # spot-check rows against a serial computation
        same = all(np.array_equal(features[i], sample_features(recipe.data, recipe.family, i)) for i in check)
        print(json.dumps({"features": gathered, "order": ordered, "same": same, "rows": len(features)}))


def run(ranks: int, samples: int) -> dict:
    command = ["mpiexec", "-n", str(ranks), sys.executable, __file__, "--worker", "--samples", str(samples)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.samples)
    runs = {p: [] for p in args.ranks}
    for _ in range(args.repeats):
        for p in args.ranks:
            result = run(p, args.samples)
            assert result["same"] and result["rows"] == args.samples, result
            runs[p].append(result)
            print(p, result, flush=True)
    base = np.median([r["features"] for r in runs[args.ranks[0]]])
    rows = []
    for p in args.ranks:
        features = np.median([r["features"] for r in runs[p]])
        order = np.median([r["order"] for r in runs[p]])
        rows.append([p, f"{features:.2f}", f"{1e3 * features / args.samples:.3f}", f"{base / features:.2f}x",
                     f"{order:.2f}"])
    write_section("parallel_ordering", (
        f"recipes/darcy.yaml (128x128), N = {args.samples:,}: similarity features computed in blocks "
        f"by every rank and gathered on rank 0, then rank 0's KD-tree order; median of {args.repeats} "
        "alternating runs; the gathered features equal a serial computation's in every run.\n\n"
        + table(["ranks", "features s", "ms per sample", "features speed-up", "order s (rank 0)"], rows)))


if __name__ == "__main__":
    main()
