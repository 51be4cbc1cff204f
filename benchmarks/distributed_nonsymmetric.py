"""Nonsymmetric systems spread over several ranks: GMRES(40) or GCRO-DR(40,20) with block
Jacobi + ILU, or GMRES(40) with algebraic multigrid?

With ``ranks_per_system > 1`` the planner cannot use its sequential LU, nor its geometric
multigrid, and PETSc's ILU is sequential too. Block Jacobi (ILU on each rank's rows) is
what GMRES and GCRO-DR get when they are named; the planner's choice where its geometric
multigrid does not apply (benchmarks/distributed_multigrid.py) is GMRES with PETSc's GAMG
whose levels are smoothed by one Richardson step of block Jacobi + ILU(0).
This script builds the same advection-diffusion samples with ``mpiexec -n P`` and
``ranks_per_system = P``, once with each method, rotating the methods over repeats, and
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
from pdegen.bench import rotated  # noqa: E402

# name -> (the solver label the store records, recipe settings)
METHODS = {"gmres": ("gmres", ["solver.method=gmres"]), "gcrodr": ("gcrodr", ["solver.method=gcrodr"]),
           "gmres+gamg": ("gmres", ["solver.method=gmres", "solver.preconditioner=gamg"])}


def build(method: str, n, samples: int, ranks: int, out: Path, methods: dict = METHODS,
          recipe: str = "advection_diffusion") -> dict:
    """One build on an n x n grid (or of shape ``n`` when a list) with ``methods[method]`` =
    (the solver label the store should record, recipe settings); per-sample solve seconds
    and iterations from the store."""
    label, settings = methods[method]
    shutil.rmtree(out, ignore_errors=True)
    command = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build",
               str(ROOT / "recipes" / f"{recipe}.yaml"), "--samples", str(samples), "--out", str(out),
               "-q", "--set", f"grid.shape={list(n) if isinstance(n, (list, tuple)) else [n, n]}",
               "--set", f"ranks_per_system={ranks}",
               *(part for setting in settings for part in ("--set", setting))]
    subprocess.run(command, check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    from pdegen.store import open_dataset
    with open_dataset(out) as ds:
        solver = ds["stats/solver"]
        labels = list(solver.attrs["labels"])
        assert bool(ds["done"][:].all()) and bool(ds["stats/converged"][:].all()), f"{method} {n}²: failed solves"
        assert bool((solver[:] == labels.index(label)).all()), f"{method} {n}²: fallbacks were needed"
        return {"seconds": ds["stats/seconds"][:], "iterations": ds["stats/iterations"][:],
                "residual": float(ds["stats/residual"][:].max())}


def rotated_builds(methods: dict, n, args, tmp: Path, recipe: str = "advection_diffusion") -> tuple[dict, dict, dict]:
    """``args.repeats`` builds per method in a rotating order; returns the runs of each
    method and, per method, the median ms per sample and the iterations per sample (the
    same solves at every repeat)."""
    runs = {m: [] for m in methods}
    for repeat in range(args.repeats):
        for method in rotated(list(methods), repeat):
            runs[method].append(build(method, n, args.samples, args.ranks, tmp / f"{method}.zarr", methods, recipe))
            print(f"{n} {method} repeat {repeat}: {runs[method][-1]['seconds'].mean() * 1e3:.0f} ms/sample", flush=True)
    ms = {m: median_ms(runs[m]) for m in methods}
    its = {m: float(np.mean([r["iterations"].mean() for r in runs[m]])) for m in methods}
    return runs, ms, its


def median_ms(runs: list, skip: int = 0) -> float:
    """Median over repeats of the mean solve time per sample, in ms, leaving out the first
    ``skip`` samples of each build (the first carries the set-up a long build pays once)."""
    return float(np.median([r["seconds"][skip:].mean() for r in runs])) * 1e3


def ratio_cell(runs_a: list, runs_b: list, skip: int = 0) -> str:
    """Median (range) over repeats of the time ratio a / b (samples as for median_ms)."""
    ratios = [a["seconds"][skip:].mean() / b["seconds"][skip:].mean() for a, b in zip(runs_a, runs_b)]
    return f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


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
            runs, ms, its = rotated_builds(METHODS, n, args, Path(tmp))
            rows.append([f"{n}x{n}", *(f"{ms[m]:.0f} ({its[m]:.0f} its)" for m in METHODS),
                         ratio_cell(runs["gcrodr"], runs["gmres"]), ratio_cell(runs["gmres+gamg"], runs["gcrodr"]),
                         f"{max(r['residual'] for m in METHODS for r in runs[m]):.1e}"])
    body = (f"advection_diffusion (recipes/advection_diffusion.yaml), {args.samples} samples, "
            f"`mpiexec -n {args.ranks}` with ranks_per_system = {args.ranks}, greedy order, warm starts; GMRES(40) "
            "and GCRO-DR(40,20) with block Jacobi + ILU(0), GMRES(40) + GAMG with block Jacobi + ILU(0) smoothing "
            "(the planner's choice where geometric multigrid does not apply); solve time per sample from the stores "
            f"(iterations per sample in brackets), median of {args.repeats} builds in a rotating order, ratios the "
            "median over repeats (range).\n\n"
            + table(["grid", "GMRES(40) + bjacobi ms/sample", "GCRO-DR(40,20) + bjacobi ms/sample",
                     "GMRES(40) + GAMG ms/sample", "GCRO-DR / GMRES time", "GMRES + GAMG / GCRO-DR time",
                     "worst residual"], rows))
    print(body)
    write_section("distributed_nonsymmetric", body, petsc=True)


if __name__ == "__main__":
    main()
