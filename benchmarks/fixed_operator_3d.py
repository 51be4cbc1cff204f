"""A matrix that never changes, in 3-D (recipes/poisson.yaml on a cube, zero boundary data):
factor once, or CG + geometric multigrid per sample? The planner's rule for fixed operators.

In 2-D one factorisation, then two triangular solves per sample, is the obvious choice. In
3-D the factor fills in: this script times, as pdegen runs them (the plan's solver,
assembly excluded), the first sample (the factorisation, or the multigrid set-up) and the
median of the later ones, for the reused Cholesky and for CG with the planner's 3-D
multigrid (aggregation coarse operators, red-black numbering, one start cycle), and the
number of samples after which the factorisation would have paid for itself.

Usage: python benchmarks/fixed_operator_3d.py [--sizes 32 40 48 56] [--samples 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.plan import make_plan, make_solver  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

METHODS = {"direct": ["solver.method=direct"], "cg+mg": ["solver.method=cg", "solver.preconditioner=mg"]}


def times(n: int, samples: int) -> dict:
    """{method: (first ms, median later ms, iterations)} on the same systems."""
    base = [f"grid.shape=[{n},{n},{n}]", "parameters.boundary_data={dist: constant, value: 0}"]
    recipe = load_recipe(ROOT / "recipes" / "poisson.yaml", base)
    grid = grid_of(recipe.data)
    systems = [recipe.family.system(grid, draw_values(recipe.data, recipe.family, i), recipe.data)
               for i in range(samples)]
    out = {}
    for name, settings in METHODS.items():
        planned = load_recipe(ROOT / "recipes" / "poisson.yaml", [*base, *settings])
        solver = make_solver(make_plan(planned), planned.data["solver"])
        elapsed, iterations = [], []
        for system in systems:
            start = time.perf_counter()
            _, info = solver.solve(system.A, system.b)
            elapsed.append(1e3 * (time.perf_counter() - start))
            assert info.converged, (n, name, info)
            iterations.append(info.iterations)
        out[name] = (elapsed[0], float(np.median(elapsed[1:])), float(np.mean(iterations)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 40, 48, 56])
    parser.add_argument("--samples", type=int, default=6)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        t = times(n, args.samples)
        (direct_first, direct_later, _), (mg_first, mg_later, mg_its) = t["direct"], t["cg+mg"]
        saving = mg_later - direct_later
        break_even = f"{(direct_first - mg_first) / saving:.0f}" if saving > 0 else "never"
        rows.append([f"{n}³", n**3, f"{direct_first:.0f}", f"{direct_later:.1f}", f"{mg_first:.0f}",
                     f"{mg_later:.1f} ({mg_its:.0f} its)", break_even])
        print(rows[-1], flush=True)
    write_section("fixed_operator_3d", (
        f"3-D Poisson (recipes/poisson.yaml on n³ cells, zero boundary data: the matrix never changes), "
        f"{args.samples} samples solved with the plan's solver (assembly excluded): the reused Cholesky "
        "(factorised at the first sample) against CG + geometric multigrid (the planner's 3-D variant, set up at "
        "the first sample); `break-even` is the number of samples after which the factorisation would have paid "
        "for itself.\n\n"
        + table(["grid", "unknowns", "Cholesky first ms", "Cholesky later ms", "CG + MG first ms",
                 "CG + MG later ms", "break-even samples"], rows)), petsc=False)


if __name__ == "__main__":
    main()
