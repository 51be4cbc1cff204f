"""Direct against iterative solves for a nonsymmetric 2-D family (recipes/advection_diffusion.yaml,
first-order upwind, Péclet 10-100): the planner's rule for nonsymmetric systems.

Each method as pdegen runs it: one matrix updated in place; direct = PETSc's LU with its
symbolic factorisation reused; GMRES(40) + ILU(0) and GCRO-DR(40,20) + ILU(0) warm-started in
greedy order (ILU rebuilt for every sample). Assembly included. The methods of one size take
turns in a rotating order (three rounds up to 256², one above: the iterative solves take
seconds per sample there), median of the rounds. Beside them, the LU factor's nonzeros per
unknown (PETSc's default nested-dissection ordering, first sample): the planner's direct
limit for nonsymmetric systems is set by that memory, not by time.

With ``--beyond-direct`` it times what the planner does above its direct limit where multigrid
does not apply (benchmarks/nonsymmetric_multigrid.py: Péclet numbers above 1000) instead:
GMRES(40) + ILU against GCRO-DR(40,20) + ILU on sequences of three samples at 768² and
1024² (one round; about 20 minutes), where a recycle space is carried from sample to sample.

Usage: python benchmarks/nonsymmetric_crossover.py [--beyond-direct]
"""

from __future__ import annotations

import argparse
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


# (grid side, samples): the iterative methods alone, where the planner leaves the LU
BEYOND_DIRECT = ((768, 3), (1024, 3))


def beyond_direct():
    methods = {k: v for k, v in METHODS.items() if k != "direct"}
    rows = []
    for n, samples in BEYOND_DIRECT:
        times = timed("advection_diffusion.yaml", [n, n], samples, methods, 1)
        ratio = times["gcrodr+ilu"][0] / times["gmres+ilu"][0]
        rows.append(row(f"{n}x{n}", n * n, times, methods) + [f"{ratio:.2f}x", samples])
    header = ["grid", "unknowns", *(f"{k} ms/sample" for k in methods), "fastest", "GCRO-DR / GMRES time",
              "samples"]
    write_section("nonsymmetric_beyond_direct",
                  "2-D advection-diffusion (recipes/advection_diffusion.yaml) as the planner solves it above "
                  "its direct limit where multigrid does not apply (Péclet numbers above 1000, or central "
                  "convection at a cell Péclet number above 2; the samples here keep the recipe's 10-100, for "
                  "which it now plans multigrid: nonsymmetric_multigrid): ILU rebuilt per sample, warm starts in "
                  "greedy order, GCRO-DR carrying its "
                  "recycle space from sample to sample; one round, all samples (the first included), assembly "
                  "included; iterations per sample in brackets.\n\n" + table(header, rows),
                  command="python benchmarks/nonsymmetric_crossover.py --beyond-direct")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beyond-direct", action="store_true",
                        help="time GMRES against GCRO-DR at 768² and 1024², three samples each")
    if parser.parse_args().beyond_direct:
        beyond_direct()
        return
    rows = [row(f"{n}x{n}", n * n, timed("advection_diffusion.yaml", [n, n], samples, METHODS, rounds), METHODS)
            + [f"{lu_fill(n):.1f}", samples, rounds] for n, samples, rounds in SIZES]
    header = ["grid", "unknowns", *(f"{k} ms/sample" for k in METHODS), "fastest", "LU nonzeros per unknown",
              "samples", "rounds"]
    write_section("nonsymmetric_crossover",
                  "2-D advection-diffusion (recipes/advection_diffusion.yaml), methods interleaved, median of "
                  "the rounds, assembly included; iterations per sample in brackets.\n\n" + table(header, rows))


if __name__ == "__main__":
    main()
