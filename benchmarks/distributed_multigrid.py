"""Geometric multigrid over several ranks per system against PETSc's algebraic multigrid:
the planner's rule for ``ranks_per_system > 1`` on 2-D grids.

solvers.multigrid distributes its hierarchy as pdegen distributes the matrix (each rank the
cells of its slab along axis 0, and their parents on coarser levels), with Galerkin coarse
operators in C order. Each method as `mpiexec -n P pdegen build` runs it with
``ranks_per_system = P``: Darcy (SPD) with CG + geometric multigrid (SOR smoothing, local to
each rank) or CG + GAMG (the previous plan), advection-diffusion with GMRES + geometric
multigrid or GMRES + GAMG, both smoothed by block Jacobi + ILU(0). Solve time per sample
from the stores (rank 0's clock), median of builds in a rotating order.

With ``--three-d``: 3-D Darcy (recipes/darcy3d.yaml) instead, where the planner had kept CG
with block Jacobi + ICC(0) (ICC per rank) over ranks, against CG + GAMG and CG + geometric
multigrid (Galerkin coarse operators).

Usage: python benchmarks/distributed_multigrid.py [--samples 8] [--repeats 3] [--ranks 2] [--three-d]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.distributed_nonsymmetric import median_ms, ratio_cell, rotated_builds  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402

# recipe -> (Krylov method, grid sides); each compares the two preconditioners
CASES = {"darcy": ("cg", (128, 256, 512)), "advection_diffusion": ("gmres", (128, 256, 384))}
SIDES_3D = (32, 40, 48, 56, 64, 80)
METHODS_3D = {name: ("cg", ["solver.method=cg", f"solver.preconditioner={name}"]) for name in ("icc", "gamg", "mg")}


def three_d(args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIDES_3D:
            runs, ms, its = rotated_builds(METHODS_3D, [n, n, n], args, Path(tmp), "darcy3d")
            rows.append([f"{n}³", *(f"{ms[m]:.1f} / {median_ms(runs[m], skip=1):.1f} ({its[m]:.1f} its)"
                                    for m in METHODS_3D),
                         ratio_cell(runs["gamg"], runs["icc"], skip=1), ratio_cell(runs["mg"], runs["icc"], skip=1)])
            print(rows[-1], flush=True)
    write_section("distributed_multigrid_3d", (
        f"3-D Darcy (recipes/darcy3d.yaml), `mpiexec -n {args.ranks}` with ranks_per_system = {args.ranks}, "
        f"{args.samples} samples per build: CG with block Jacobi + ICC(0) (ICC on each rank's rows), CG + GAMG, CG + "
        "geometric multigrid spread over the ranks (Galerkin coarse operators, C order, SOR smoothing, coarsest grid "
        "at most 216 cells); solve time per sample from the stores, over all samples / over the samples after the "
        "first (which carries the symbolic set-up a long build pays once), iterations in brackets; median of "
        f"{args.repeats} builds in a rotating order; ratios over the later samples, the median over repeats "
        "(range).\n\n"
        + table(["grid", "CG + bjacobi/ICC ms/sample", "CG + GAMG ms/sample", "CG + geometric MG ms/sample",
                 "GAMG / ICC time (later)", "MG / ICC time (later)"], rows)),
        command=f"python benchmarks/distributed_multigrid.py --three-d --samples {args.samples}", petsc=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--three-d", action="store_true", help="3-D Darcy against block Jacobi + ICC instead")
    args = parser.parse_args()
    if args.three_d:
        three_d(args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe, (krylov, sides) in CASES.items():
            methods = {pc: (krylov, [f"solver.method={krylov}", f"solver.preconditioner={pc}"])
                       for pc in ("gamg", "mg")}
            for n in sides:
                runs, ms, its = rotated_builds(methods, n, args, Path(tmp), recipe)
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
