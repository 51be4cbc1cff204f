"""Cost per GMRES iteration: solvers.GMRES on the PETSc backend vs PETSc's KSPGMRES on
the same 128x128 Darcy system (a = exp(GRF)), restart 40, Jacobi, exactly 400
iterations each (rtol too small to stop earlier), interleaved, median of repeats.

Our Arnoldi uses classical Gram-Schmidt with DGKS reorthogonalisation when needed and one
reduction per step; KSPGMRES is shown with its default (CGS, never refine) and with
refinement if needed (the like-for-like setting).

Usage: python benchmarks/iteration_cost.py [--n 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.families.darcy import assemble_diffusion  # noqa: E402
from pdegen.fields import gaussian_random_field, sample_rng  # noqa: E402
from pdegen.grid import Grid  # noqa: E402

ITERATIONS = 400


def main():
    from solvers import GCRODR, GMRES
    from solvers.ksp import KSPSolver
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    grid = Grid((args.n, args.n), ((0, 1), (0, 1)))
    A, b = assemble_diffusion(grid, np.exp(gaussian_random_field(grid.shape, 2.5, 7.0, sample_rng(0, 0))), 1.0)
    common = dict(rtol=1e-15, maxiter=ITERATIONS)
    solvers = {
        "KSPGMRES (CGS, refine never: PETSc default)": KSPSolver(
            "gmres", "jacobi", options={"ksp_gmres_restart": 40}, prefix="it_a_", **common),
        "KSPGMRES (CGS, refine if needed)": KSPSolver(
            "gmres", "jacobi", prefix="it_b_", **common,
            options={"ksp_gmres_restart": 40, "ksp_orthogonalization_cgs_refinement_type": "refine_ifneeded"}),
        "solvers.GMRES(40), PETSc backend, CGS (default)": GMRES(m=40, backend="petsc", preconditioner="jacobi",
                                                                 orthogonalization="cgs", **common),
        "solvers.GMRES(40), PETSc backend, CGS2 if needed": GMRES(m=40, backend="petsc", preconditioner="jacobi",
                                                                  orthogonalization="cgs2", **common),
        "solvers.GCRODR(40,20), PETSc backend, CGS (default)": GCRODR(
            m=40, k=20, backend="petsc", preconditioner="jacobi", orthogonalization="cgs", **common),
        "solvers.GCRODR(40,20), PETSc backend, CGS2 if needed": GCRODR(
            m=40, k=20, backend="petsc", preconditioner="jacobi", orthogonalization="cgs2", **common),
    }
    times = {name: [] for name in solvers}
    iterations = {}
    for _ in range(args.repeats):
        for name, solver in solvers.items():
            if hasattr(solver, "reset"):
                solver.reset()
            start = time.perf_counter()
            _, info = solver.solve(A, b)
            times[name].append((time.perf_counter() - start) / max(info.iterations, 1))
            iterations[name] = info.iterations
    reference = np.median(times["KSPGMRES (CGS, refine if needed)"])
    default = np.median(times["KSPGMRES (CGS, refine never: PETSc default)"])
    rows = [[name, iterations[name], f"{1e3 * np.median(t):.3f}", f"{np.median(t) / reference:.2f}",
             f"{np.median(t) / default:.2f}"] for name, t in times.items()]
    body = (f"{args.n}x{args.n} Darcy, Jacobi, restart 40, {ITERATIONS} iterations per solve, median of "
            f"{args.repeats} interleaved repeats.\n\n"
            + table(["solver", "iterations", "ms / iteration", "ratio vs KSPGMRES refine-if-needed",
                     "ratio vs KSPGMRES default"], rows))
    print(body)
    write_section("iteration_cost", body)


if __name__ == "__main__":
    main()
