"""`pdegen verify` on recipes/darcy.yaml as shipped (500 samples, 128x128, 32-sample chunks).

1. Reading the rows verify needs (the stored input and the solution), one row at a time
   (what verify did: each row decoded its whole chunk again) against a chunk at a time
   (what it does now), alternating, median of repeats.
2. The whole `pdegen verify` command with 1 and 2 MPI ranks (process start included),
   alternating, median of repeats; every run must report 0 problems.

Usage: python benchmarks/verify_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from pdegen.store import open_dataset  # noqa: E402

FIELDS = ("inputs/coefficient", "outputs/solution")


def read_by_row(store: Path) -> float:
    start = time.perf_counter()
    with open_dataset(store) as ds:
        for row in range(ds.num_samples):
            for name in FIELDS:
                np.asarray(ds[name][row])
    return time.perf_counter() - start


def read_by_chunk(store: Path, chunk: int) -> float:
    start = time.perf_counter()
    with open_dataset(store) as ds:
        for first in range(0, ds.num_samples, chunk):
            for name in FIELDS:
                np.asarray(ds[name][first:first + chunk])
    return time.perf_counter() - start


def verify_command(store: Path, ranks: int) -> float:
    command = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "verify", str(store)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    elapsed = time.perf_counter() - start
    assert ", 0 problem(s)" in out, out
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "darcy.zarr"
        recipe = load_recipe(ROOT / "recipes" / "darcy.yaml", [f"output.path={store}"])
        build(recipe, quiet=True)
        chunk, n = recipe.data["output"]["chunk_samples"], recipe.data["samples"]
        reads = {"row": [], "chunk": []}
        commands = {1: [], 2: []}
        for _ in range(args.repeats):
            reads["row"].append(read_by_row(store))
            reads["chunk"].append(read_by_chunk(store, chunk))
            for ranks in commands:
                commands[ranks].append(verify_command(store, ranks))
            print({k: v[-1] for k, v in reads.items()}, {k: v[-1] for k, v in commands.items()}, flush=True)
    row, by_chunk = np.median(reads["row"]), np.median(reads["chunk"])
    one, two = np.median(commands[1]), np.median(commands[2])
    rows = [["read the two fields row by row (verify before)", f"{row:.2f}", f"{1e3 * row / n:.2f}"],
            ["read the two fields chunk by chunk (verify now)", f"{by_chunk:.2f}", f"{1e3 * by_chunk / n:.2f}"],
            ["`pdegen verify`, 1 rank (whole command)", f"{one:.2f}", f"{1e3 * one / n:.2f}"],
            ["`mpiexec -n 2 pdegen verify` (whole command)", f"{two:.2f}", f"{1e3 * two / n:.2f}"]]
    write_section("verify_speed", (
        f"recipes/darcy.yaml as shipped ({n} samples, 128x128, {chunk}-sample chunks, Zarr, lz4); medians of "
        f"{args.repeats} alternating repeats; every verify reported 0 problems.\n\n"
        + table(["what", "seconds", "ms per sample"], rows)
        + f"\n\nReading a chunk at a time: **{row / by_chunk:.1f}x** faster than row by row; two ranks: "
        f"**{one / two:.2f}x** the speed of one (2-core VM, process start included)."))


if __name__ == "__main__":
    main()
