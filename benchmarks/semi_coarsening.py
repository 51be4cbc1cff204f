"""Semi-coarsening for stretched cells (solvers.multigrid): which axes a level halves.

Darcy (recipes/darcy.yaml in 2-D on [0, r] x [0, 1], recipes/darcy3d.yaml in 3-D on
plates [0, 1] x [0, r]² and rods [0, r] x [0, 1]²): cells of aspect r, CG + geometric
multigrid as the planner runs it (aggregation coarse operators; in 2-D red-black numbering
and one full-multigrid start cycle), with several hierarchies: every axis halved together
(the hierarchy of square cells), and the short axes halved alone while the long cells are
more than `ratio` times longer (SEMI_COARSENING_RATIO is the default), a coarsest grid of
more than COARSEST_MAX_UNKNOWNS cells coarsening further along the axes that still can
(in 3-D also without that rule: stopping where the short axis stops).

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
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.bench import rotated  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.plan import make_plan  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers import multigrid  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

RATIOS_2D = {"every axis": None, "ratio sqrt(2)": np.sqrt(2.0), "ratio 1.75": 1.75, "ratio 2": 2.0}
RATIOS_3D = {"every axis": None, "ratio 1.75": 1.75, "ratio 2.5": 2.5,
             "ratio 1.75, stopping with the short axis": (1.75, "uncapped")}
# (recipe, n, extent for aspect r, aspects, systems relative to --systems, hierarchies)
CASES = [("darcy", 128, "[[0,{r}],[0,1]]", (1.5, 1.8, 2, 3, 4, 8), 1.0, RATIOS_2D),
         ("darcy", 256, "[[0,{r}],[0,1]]", (1.5, 2, 3, 4, 8), 0.5, RATIOS_2D),
         ("darcy3d", 32, "[[0,1],[0,{r}],[0,{r}]]", (2, 3, 4, 8), 0.5, RATIOS_3D),
         ("darcy3d", 32, "[[0,{r}],[0,1],[0,1]]", (2, 3, 4, 8), 0.5, RATIOS_3D)]


def compare(recipe_name: str, n: int, extent: str, count: int, hierarchies: dict) -> dict:
    """{hierarchy: (times relative to every axis halved, mean iterations, coarsest grid)}."""
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.yaml",
                         [f"grid.shape={[n] * (3 if '3d' in recipe_name else 2)}", f"grid.extent={extent}"])
    plan, grid, rtol = make_plan(recipe), grid_of(recipe.data), recipe.data["solver"]["rtol"]
    solvers, coarsest = {}, {}
    for k, (name, ratio) in enumerate(hierarchies.items()):
        uncapped = isinstance(ratio, tuple)  # no COARSEST_MAX_UNKNOWNS: stop where the short axes stop
        ratio = ratio[0] if uncapped else ratio
        cap = multigrid.COARSEST_MAX_UNKNOWNS
        multigrid.COARSEST_MAX_UNKNOWNS = np.inf if uncapped else cap
        try:
            mg = GeometricMG(grid.shape, coarse=plan.multigrid_coarse, ordering=plan.multigrid_ordering,
                             start_cycles=plan.multigrid_start_cycles,
                             spacing=None if ratio is None else grid.spacing, ratio=ratio or 1.0)
        finally:
            multigrid.COARSEST_MAX_UNKNOWNS = cap
        solvers[name] = KSPSolver("cg", "mg", rtol=rtol, prefix=f"semi{k}_", multigrid=mg)
        coarsest[name] = mg.shapes[-1]
    times, iterations = {name: [] for name in hierarchies}, {name: [] for name in hierarchies}
    for i in range(count + 1):
        system = recipe.family.system(grid, draw_values(recipe.data, recipe.family, i), recipe.data)
        A, b = system.A, system.b
        for name in rotated(list(hierarchies), i):
            start = time.perf_counter()
            x, info = solvers[name].solve(A, b)
            seconds = time.perf_counter() - start
            residual = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
            assert info.converged and residual <= rtol * (1 + 1e-6), (recipe_name, extent, name, info, residual)
            if i:  # the first system sets up the hierarchies
                times[name].append(seconds)
                iterations[name].append(info.iterations)
    base = np.array(times["every axis"])
    return {name: (np.array(times[name]) / base, float(np.mean(iterations[name])), coarsest[name])
            for name in hierarchies}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=32, help="systems per 2-D 128² case (others scaled)")
    args = parser.parse_args()
    sections = []
    for recipe_name, n, extent, aspects, share, hierarchies in CASES:
        count = max(4, round(share * args.systems))
        rows = []
        for r in aspects:
            results = compare(recipe_name, n, extent.format(r=r), count, hierarchies)
            rows.append([f"{r:g}:1", *(f"{np.median(ratio):.2f}x, {its:.1f} its, {'x'.join(map(str, low))}"
                                       for ratio, its, low in results.values())])
            print(recipe_name, n, extent, rows[-1], flush=True)
        grid = "x".join([str(n)] * (3 if "3d" in recipe_name else 2))
        sections.append(f"{recipe_name} {grid} on {extent.format(r='r')}, {count} systems:\n\n"
                        + table(["cells", *hierarchies], rows))
    write_section("semi_coarsening", (
        "CG + multigrid with cells of aspect r:1, each system solved once per hierarchy (its coarse levels "
        "rebuilt, as in a build), rotating order; per hierarchy the median over systems of the time relative "
        "to halving every axis, the mean iterations (start cycle included) and the coarsest grid.\n\n"
        + "\n\n".join(sections)), command="python benchmarks/semi_coarsening.py")


if __name__ == "__main__":
    main()
