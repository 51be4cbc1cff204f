"""Direct against iterative solves for a nonsymmetric 2-D family (recipes/advection_diffusion.yaml,
first-order upwind, Péclet 10-100): the planner's rule for nonsymmetric systems.

Each method as pdegen runs it: one matrix updated in place; direct = PETSc's LU with its
symbolic factorisation reused; GMRES(40) + ILU(0) and GCRO-DR(40,20) + ILU(0) warm-started in
greedy order (ILU rebuilt for every sample). Assembly included. The methods of one size take
turns in a rotating order (three rounds up to 256², one above: the iterative solves take
seconds per sample there), median of the rounds. Beside them, the LU factor's nonzeros per
unknown (PETSc's default nested-dissection ordering, first sample): the planner's direct
limit for nonsymmetric systems is set by that memory, not by time.

Usage: python benchmarks/nonsymmetric_crossover.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.planner_crossover import row, timed  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

# (grid side, samples, rounds)
SIZES = ((64, 16, 3), (128, 16, 3), (256, 8, 3), (384, 4, 1), (512, 2, 1), (768, 1, 1))
METHODS = {"direct": ["solver.method=direct"],
           "gmres+ilu": ["solver.method=gmres", "solver.preconditioner=ilu"],
           "gcrodr+ilu": ["solver.method=gcrodr", "solver.preconditioner=ilu"]}


def lu_fill(n: int) -> float:
    """Nonzeros per unknown of the LU factor of the first sample's matrix on an n x n grid."""
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "advection_diffusion.yaml", [f"grid.shape=[{n},{n}]"])
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 0), recipe.data)
    solver = KSPSolver("preonly", "lu", rtol=1e-8)
    _, info = solver.solve(system.A, system.b)
    assert info.converged, info
    return solver.ksp.getPC().getFactorMatrix().getInfo()["nz_used"] / (n * n)


def main():
    rows = [row(f"{n}x{n}", n * n, timed("advection_diffusion.yaml", [n, n], samples, METHODS, rounds), METHODS)
            + [f"{lu_fill(n):.1f}", samples, rounds] for n, samples, rounds in SIZES]
    header = ["grid", "unknowns", *(f"{k} ms/sample" for k in METHODS), "fastest", "LU nonzeros per unknown",
              "samples", "rounds"]
    write_section("nonsymmetric_crossover",
                  "2-D advection-diffusion (recipes/advection_diffusion.yaml), methods interleaved, median of "
                  "the rounds, assembly included; iterations per sample in brackets.\n\n" + table(header, rows))


if __name__ == "__main__":
    main()
