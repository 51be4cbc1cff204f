"""Geometric multigrid over several ranks per system against PETSc's algebraic multigrid:
the planner's rule for ``ranks_per_system > 1`` on 2-D grids.

solvers.multigrid distributes its hierarchy as pdegen distributes the matrix (each rank the
cells of its slab along axis 0, and their parents on coarser levels), with Galerkin coarse
operators in C order. Each method as `mpiexec -n P pdegen build` runs it with
``ranks_per_system = P``: Darcy (SPD) with CG + geometric multigrid (SOR smoothing, local to
each rank) or CG + GAMG (the previous plan), advection-diffusion with GMRES + geometric
multigrid or GMRES + GAMG, both smoothed by block Jacobi + ILU(0). Solve time per sample
from the stores (rank 0's clock), median of builds in a rotating order.

Usage: python benchmarks/distributed_multigrid.py [--samples 8] [--repeats 3] [--ranks 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.distributed_nonsymmetric import build, ratio_cell  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.bench import rotated  # noqa: E402

# recipe -> (Krylov method, grid sides); each compares the two preconditioners
CASES = {"darcy": ("cg", (128, 256, 512)), "advection_diffusion": ("gmres", (128, 256, 384))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe, (krylov, sides) in CASES.items():
            methods = {pc: (krylov, [f"solver.method={krylov}", f"solver.preconditioner={pc}"]) for pc in ("gamg", "mg")}
            for n in sides:
                runs = {m: [] for m in methods}
                for repeat in range(args.repeats):
                    for method in rotated(list(methods), repeat):
                        runs[method].append(build(method, n, args.samples, args.ranks, Path(tmp) / f"{method}.zarr",
                                                  methods, recipe))
                ms = {m: float(np.median([r["seconds"].mean() for r in runs[m]])) * 1e3 for m in methods}
                its = {m: float(np.mean([r["iterations"].mean() for r in runs[m]])) for m in methods}
                rows.append([recipe, f"{n}x{n}", *(f"{ms[m]:.1f} ({its[m]:.1f} its)" for m in methods),
                             ratio_cell(runs["mg"], runs["gamg"]),
                             f"{max(r['residual'] for m in methods for r in runs[m]):.1e}"])
                print(rows[-1], flush=True)
    write_section("distributed_multigrid", (
        f"`mpiexec -n {args.ranks}` with ranks_per_system = {args.ranks}, {args.samples} samples per build; Darcy "
        "(recipes/darcy.yaml) with CG, advection-diffusion (recipes/advection_diffusion.yaml, Péclet 10-100) with "
        "GMRES(40); GAMG as the planner sets it up, geometric multigrid distributed over the ranks (Galerkin coarse "
        "operators, C order; SOR smoothing for Darcy, block Jacobi + ILU(0) for advection); solve time per sample "
        f"from the stores (iterations in brackets), median of {args.repeats} builds in a rotating order, the ratio "
        "the median over repeats (range).\n\n"
        + table(["recipe", "grid", "GAMG ms/sample", "geometric MG ms/sample", "MG / GAMG time", "worst residual"],
                rows)), petsc=True)


if __name__ == "__main__":
    main()
