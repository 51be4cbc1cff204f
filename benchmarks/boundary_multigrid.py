"""Geometric multigrid with Neumann faces and periodic axes: interpolation that extends the
coarse values flat to a Neumann face, and across the wrap of a periodic axis (what the
planner builds), against interpolation towards zero at every face (the Dirichlet rule, all
it had before), and the planner's rival without multigrid.

recipes/darcy_flow.yaml (u = 1 / 0 on the x faces, no flow through the y faces: two
Neumann faces), the same with the outflow face Neumann too and a unit source (three: one
Dirichlet face left; without a source the solution would be u = 1), and
recipes/darcy3d.yaml with every face but the x ones Neumann (four); recipes/darcy.yaml
periodic along x (and in 3-D along x and y), the other faces Dirichlet. CG + multigrid
exactly as `pdegen build` plans it (``plan.make_solver``), once with the plan's Neumann
faces and periodic axes and once without; the reused Cholesky in 2-D, CG + ICC(0) in 3-D. Systems
in sample order, warm-started, each solved once per solver in a rotating order, the
first left out of the timings. The table gives each solver's mean CG iterations and
median ms per system, and the times relative to the planner's.

Usage: python benchmarks/boundary_multigrid.py [--systems 16] [--sizes 128 256 512]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from benchmarks.side_by_side import recipe_systems, solve_side_by_side  # noqa: E402
from pdegen.plan import make_plan, make_solver  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402

# (label, recipe, overrides)
PERIODIC_X = "boundary.faces={x_low: {kind: periodic}, x_high: {kind: periodic}}"
CASES_2D = [("y faces Neumann", "darcy_flow", []),
            ("y faces and x_high Neumann, f = 1", "darcy_flow",  # (with no source: u = 1, no flow)
             ["boundary.faces.x_high.kind=neumann", "parameters.forcing.value=1.0"]),
            ("periodic along x", "darcy", [PERIODIC_X])]
CASES_3D = [("y and z faces Neumann", "darcy3d",
             ["boundary.kind=neumann",
              "boundary.faces={x_low: {kind: dirichlet, value: 1.0}, x_high: {kind: dirichlet}}"]),
            ("periodic along x and y", "darcy3d",
             ["boundary.faces={x_low: {kind: periodic}, x_high: {kind: periodic}, y_low: {kind: periodic}, "
              "y_high: {kind: periodic}}"])]
SIZES_3D = {32: 8, 48: 4}  # cells per axis: systems


def compare(recipe_name: str, shape: list[int], overrides: list[str], count: int) -> tuple[list[str], str]:
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.yaml", [f"grid.shape={shape}", *overrides,
                                                                     "solver.preconditioner=mg"])
    plan = make_plan(recipe)
    assert plan.preconditioner == "mg" and (plan.multigrid_neumann or plan.multigrid_periodic), plan
    solver_options, rtol = recipe.data["solver"], recipe.data["solver"]["rtol"]
    solvers = {"told": make_solver(plan, solver_options),
               "not told": make_solver(dataclasses.replace(plan, multigrid_neumann=[], multigrid_periodic=[]),
                                       solver_options)}
    if len(shape) == 2:
        solvers["rival"] = KSPSolver("preonly", "cholesky", rtol=rtol, prefix="neumanndirect_")
    else:
        solvers["rival"] = KSPSolver("cg", "icc", rtol=rtol, prefix="neumannicc_")
    runs = solve_side_by_side(solvers, recipe_systems(recipe, count + 1), rtol)
    told = runs["told"].median_ms
    cells = [f"{r.mean_iterations:.1f} its, {r.median_ms:.1f} ms" if name != "rival" else f"{r.median_ms:.1f} ms"
             for name, r in runs.items()]
    ratios = [f"{runs[name].median_ms / told:.2f}x" for name in ("not told", "rival")]
    variant = f"{plan.multigrid_coarse}, {plan.multigrid_ordering}"
    return [*cells, *ratios], variant


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=16, help="systems per row at 128² (halved per doubling)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        count = max(4, args.systems * 128 // n)
        for label, recipe_name, overrides in CASES_2D:
            cells, variant = compare(recipe_name, [n, n], overrides, count)
            rows.append([f"{n}x{n}", count, label, variant, *cells])
            print(rows[-1], flush=True)
    for n, count in SIZES_3D.items():
        for label, recipe_name, overrides in CASES_3D:
            cells, variant = compare(recipe_name, [n, n, n], overrides, count)
            rows.append([f"{n}³", count, label, variant, *cells])
            print(rows[-1], flush=True)
    write_section("boundary_multigrid", (
        "Darcy with Neumann faces (u = 1 at x = 0 and 0 at x = 1 unless that face is Neumann too; a = exp(GRF), "
        "recipes/darcy_flow.yaml with its log-permeability std about 1 and, in 3-D, recipes/darcy3d.yaml with "
        "those faces) or periodic axes (recipes/darcy.yaml and darcy3d.yaml, the other faces Dirichlet): CG + "
        "geometric multigrid as `pdegen build` plans it, with interpolation flat at the Neumann faces and across "
        "the wrap of a periodic axis (`told`, the planner's) and towards zero at every face (`not told`, as "
        "before), and the planner's rival without multigrid "
        "(the reused Cholesky in 2-D, CG + ICC(0) in 3-D); systems in sample order, warm-started, each solved once "
        "per solver in a rotating order, the first left out; mean CG iterations (start cycle included), median ms "
        "per system, and time relative to `told`.\n\n"
        + table(["grid", "systems", "faces", "coarse operators, numbering", "CG + MG, told", "CG + MG, not told",
                 "rival", "not told / told", "rival / told"], rows)))


if __name__ == "__main__":
    main()
