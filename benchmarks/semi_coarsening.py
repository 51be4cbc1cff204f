"""Semi-coarsening for stretched cells (solvers.multigrid): which axes a level halves.

Darcy (recipes/darcy.yaml in 2-D on [0, r] x [0, 1] and on narrow strips of the unit
square, recipes/darcy3d.yaml in 3-D on plates [0, 1] x [0, r]² and rods [0, r] x [0, 1]²),
CG + geometric multigrid as the planner runs it (aggregation coarse operators; in 2-D
red-black numbering and one full-multigrid start cycle), with several hierarchies: every
axis halved together (the hierarchy of square cells), and the short axes halved alone
while the long cells are more than `ratio` times longer (SEMI_COARSENING_RATIO is the
default). Where the short axes cannot be halved further, a 3-D coarsest grid of more
than COARSEST_MAX_UNKNOWNS cells goes on along the axes that still can, a 2-D one stops;
the columns with `max_coarsest` try the other rule. The strips also get the reused
Cholesky (the planner's rival below its multigrid threshold).

Every system is solved once by each hierarchy, as in a build (a new matrix each time, so
its coarse levels are rebuilt and the coarsest refactorised), the hierarchies in a
rotating order; the table gives the median over systems of each one's time relative to
halving every axis, with its mean iterations and its coarsest grid. Every true residual
is checked against rtol.

Usage: python benchmarks/semi_coarsening.py [--systems 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from benchmarks.side_by_side import recipe_systems, solve_side_by_side  # noqa: E402
from pdegen.build import grid_of  # noqa: E402
from pdegen.plan import make_plan  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

# name: GeometricMG keywords on top of the plan's (None: every axis halved, no spacing)
EVERY_AXIS = {"every axis": None}
RATIOS_2D = {**EVERY_AXIS, "ratio sqrt(2)": {"ratio": np.sqrt(2.0)}, "ratio 1.75": {}, "ratio 2": {"ratio": 2.0}}
STRIPS_2D = {**EVERY_AXIS, "ratio 1.75": {}, "ratio 1.75, max_coarsest 1024": {"max_coarsest": 1024},
             "direct": "cholesky"}
RATIOS_3D = {**EVERY_AXIS, "ratio 1.75": {}, "ratio 2.5": {"ratio": 2.5},
             "ratio 1.75, max_coarsest unbounded": {"max_coarsest": np.inf}}
# (title, recipe, [(row label, overrides)], systems relative to --systems, hierarchies)
CASES = [
    ("darcy 128x128 on [0, r] x [0, 1]", "darcy",
     [(f"{r:g}:1", ["grid.shape=[128,128]", f"grid.extent=[[0,{r}],[0,1]]"]) for r in (1.5, 1.8, 2, 3, 4, 8)],
     1.0, RATIOS_2D),
    ("darcy 256x256 on [0, r] x [0, 1]", "darcy",
     [(f"{r:g}:1", ["grid.shape=[256,256]", f"grid.extent=[[0,{r}],[0,1]]"]) for r in (1.5, 2, 3, 4, 8)],
     0.5, RATIOS_2D),
    ("darcy strips of the unit square", "darcy",
     [(f"{a}x{b}", [f"grid.shape=[{a},{b}]"]) for a, b in ((512, 64), (1000, 32), (1000, 40))], 0.5, STRIPS_2D),
    ("darcy3d 32x32x32 plates on [0, 1] x [0, r]²", "darcy3d",
     [(f"{r:g}:1", ["grid.shape=[32,32,32]", f"grid.extent=[[0,1],[0,{r}],[0,{r}]]"]) for r in (2, 3, 4, 8, 16)],
     0.5, RATIOS_3D),
    ("darcy3d 32x32x32 rods on [0, r] x [0, 1]²", "darcy3d",
     [(f"{r:g}:1", ["grid.shape=[32,32,32]", f"grid.extent=[[0,{r}],[0,1],[0,1]]"]) for r in (2, 3, 4, 8)],
     0.5, RATIOS_3D),
]


def solver_for(how, plan, grid, rtol: float, k: int):
    """The solver of one column, and its coarsest grid (or the solver's name)."""
    if isinstance(how, str):
        return KSPSolver("preonly", how, prefix=f"semidirect{k}_"), how
    mg = GeometricMG(grid.shape, coarse=plan.multigrid_coarse, ordering=plan.multigrid_ordering,
                     start_cycles=plan.multigrid_start_cycles, spacing=None if how is None else grid.spacing,
                     **(how or {}))
    return KSPSolver("cg", "mg", rtol=rtol, prefix=f"semi{k}_", multigrid=mg), "x".join(map(str, mg.shapes[-1]))


def compare(recipe_name: str, overrides: list[str], count: int, hierarchies: dict) -> dict:
    """{column: (times relative to every axis halved, mean iterations, coarsest grid)}."""
    # Multigrid named, so that the plan carries its numbering and start cycles whatever auto would pick.
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.yaml", [*overrides, "solver.preconditioner=mg"])
    plan, grid, rtol = make_plan(recipe), grid_of(recipe.data), recipe.data["solver"]["rtol"]
    solvers, coarsest = {}, {}
    for k, (name, how) in enumerate(hierarchies.items()):
        solvers[name], coarsest[name] = solver_for(how, plan, grid, rtol, k)
    runs = solve_side_by_side(solvers, recipe_systems(recipe, count + 1), rtol, warm_start=False)
    return {name: (runs[name].relative_to(runs["every axis"]), runs[name].mean_iterations, coarsest[name])
            for name in hierarchies}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=32, help="systems per 2-D 128² case (others scaled)")
    args = parser.parse_args()
    sections = []
    for title, recipe_name, grids, share, hierarchies in CASES:
        count = max(4, round(share * args.systems))
        rows = []
        for label, overrides in grids:
            results = compare(recipe_name, overrides, count, hierarchies)
            rows.append([label, *(f"{np.median(ratio):.2f}x, {its:.1f} its, {low}"
                                  for ratio, its, low in results.values())])
            print(title, rows[-1], flush=True)
        sections.append(f"{title}, {count} systems:\n\n" + table(["cells", *hierarchies], rows))
    write_section("semi_coarsening", (
        "CG + multigrid on stretched cells, each system solved once per column (coarse levels rebuilt, as in a "
        "build), rotating order; per column the median over systems of the time relative to halving every "
        "axis, the mean iterations (start cycle included) and the coarsest grid.\n\n"
        + "\n\n".join(sections)), command="python benchmarks/semi_coarsening.py")


if __name__ == "__main__":
    main()
