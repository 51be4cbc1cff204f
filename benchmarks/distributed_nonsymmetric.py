"""Nonsymmetric systems spread over several ranks: GMRES(40) or GCRO-DR(40,20)?

With ``ranks_per_system > 1`` the planner cannot use its sequential LU, and PETSc's ILU
is sequential too, so each system is solved with block Jacobi (ILU on each rank's rows).
This script builds the same advection-diffusion samples with ``mpiexec -n P`` and
``ranks_per_system = P``, once with each method, alternating methods over repeats, and
reports the solve time per sample (``stats/seconds``, rank 0's clock) and the iterations
from the stores. Greedy order and warm starts as the planner sets them.

Usage: python benchmarks/distributed_nonsymmetric.py [--grids 128 256 384] [--samples 12]
       [--repeats 3] [--ranks 2]        (writes its section of docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402

METHODS = ("gmres", "gcrodr")


def build(method: str, n: int, samples: int, ranks: int, out: Path) -> dict:
    """One build; per-sample solve seconds and iterations from the store."""
    shutil.rmtree(out, ignore_errors=True)
    command = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build",
               str(ROOT / "recipes" / "advection_diffusion.yaml"), "--samples", str(samples), "--out", str(out),
               "-q", "--set", f"grid.shape=[{n}, {n}]", "--set", f"ranks_per_system={ranks}",
               "--set", f"solver.method={method}"]
    subprocess.run(command, check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    from pdegen.store import open_dataset
    with open_dataset(out) as ds:
        solver = ds["stats/solver"]
        labels = list(solver.attrs["labels"])
        assert bool(ds["done"][:].all()) and bool(ds["stats/converged"][:].all()), f"{method} {n}²: failed solves"
        assert bool((solver[:] == labels.index(method)).all()), f"{method} {n}²: fallbacks were needed"
        return {"seconds": ds["stats/seconds"][:], "iterations": ds["stats/iterations"][:],
                "residual": float(ds["stats/residual"][:].max())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.grids:
            runs = {m: [] for m in METHODS}
            for repeat in range(args.repeats):
                for method in METHODS if repeat % 2 == 0 else METHODS[::-1]:
                    runs[method].append(build(method, n, args.samples, args.ranks, Path(tmp) / f"{method}.zarr"))
                    print(f"{n}² {method} repeat {repeat}: {runs[method][-1]['seconds'].mean() * 1e3:.0f} ms/sample",
                          flush=True)
            ms = {m: float(np.median([r["seconds"].mean() for r in runs[m]])) * 1e3 for m in METHODS}
            its = {m: float(runs[m][0]["iterations"].mean()) for m in METHODS}
            ratios = [a["seconds"].mean() / b["seconds"].mean() for a, b in zip(runs["gcrodr"], runs["gmres"])]
            rows.append([f"{n}x{n}", f"{ms['gmres']:.0f}", f"{ms['gcrodr']:.0f}", f"{its['gmres']:.0f}",
                         f"{its['gcrodr']:.0f}", f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
                         f"{max(r['residual'] for m in METHODS for r in runs[m]):.1e}"])
    body = (f"advection_diffusion (recipes/advection_diffusion.yaml), {args.samples} samples, "
            f"`mpiexec -n {args.ranks}` with ranks_per_system = {args.ranks}, block Jacobi + ILU, greedy order, "
            f"warm starts; solve time per sample from the stores, median of {args.repeats} alternating builds.\n\n"
            + table(["grid", "GMRES(40) ms/sample", "GCRO-DR(40,20) ms/sample", "GMRES iterations",
                     "GCRO-DR iterations", "GCRO-DR / GMRES time (range)", "worst residual"], rows))
    print(body)
    write_section("distributed_nonsymmetric", body, petsc=True)


if __name__ == "__main__":
    main()
