"""How good a start is the previous sample's solution, and what scaling it buys.

A build solves its samples in sequence and starts each iterative solve from the last
solution (pdegen's warm start). Whether that beats a zero start depends on the family: a
neighbour's solution can be far *worse* than zero when the right-hand side or the
operator's scale changes from sample to sample. GMRES and GCRO-DR therefore scale the
guess x0 by alpha = (b, A x0) / ||A x0||^2 (``scale_guess``, one reduction), after which
||b - A x0|| <= ||b|| always.

1. Every recipe (24 samples, small grids, the plan's order and the greedy one): the
   starting residual ||b - A x_prev|| / ||b|| of the previous solution (a direct solve's),
   as it is and scaled.
2. GCRO-DR(40,20) + ILU(0) in greedy order (the planner's Krylov method for large
   nonsymmetric problems; forced here on 128² recipes): mean iterations and ms per
   sample from zero, from the previous solution, and from it scaled (the default).
   Median of 3 interleaved passes.
3. The planner's own choice at 128² (CG or GMRES with geometric multigrid, PETSc KSP,
   not scaled): zero against the previous solution.
4. The SKR paper's sequence (benchmarks/skr_table1.py: its matrix, 100 systems, greedy
   order, rtol 1e-5): GCRO-DR(40,20) iterations, the same three starts.

Usage: python benchmarks/warm_start.py [--repeats 3] [--skip-skr]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as spla

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of, solve_order  # noqa: E402
from pdegen.plan import make_plan, make_solver  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

RECIPES = [("darcy", "[64,64]"), ("darcy_threshold", "[64,64]"), ("poisson", "[64,64]"),
           ("advection_diffusion", "[64,64]"), ("helmholtz", "[64,64]"), ("darcy3d", "[16,16,16]")]
KRYLOV_RECIPES = ["darcy", "darcy_threshold", "poisson", "advection_diffusion"]
STARTS = ["zero", "previous", "scaled"]


def sequence(name: str, shape: str, samples: int, overrides=()):
    """(recipe, the samples' systems in solve order)."""
    recipe_obj = load_recipe(Path("recipes") / f"{name}.yaml",
                             overrides=[f"samples={samples}", f"grid.shape={shape}", *overrides])
    recipe, family = recipe_obj.data, recipe_obj.family
    plan = make_plan(recipe_obj)
    grid = grid_of(recipe)
    order, _ = solve_order(recipe, family, plan)
    return recipe_obj, plan, [family.system(grid, draw_values(recipe, family, int(i)), recipe) for i in order]


def starting_residuals(systems):
    """||b - A x_prev|| / ||b||, unscaled and scaled, for every sample after the first."""
    plain, scaled, previous = [], [], None
    for system in systems:
        A, b = system.A.tocsr(), system.b
        if previous is not None:
            Ax = A @ previous
            alpha = (b @ Ax) / (Ax @ Ax)
            plain.append(np.linalg.norm(b - Ax) / np.linalg.norm(b))
            scaled.append(np.linalg.norm(b - alpha * Ax) / np.linalg.norm(b))
        previous = spla.spsolve(A.tocsc(), b)
    return np.array(plain), np.array(scaled)


def spread(values: np.ndarray) -> str:
    return f"{np.median(values):.2f} ({values.min():.2f}-{values.max():.2f})"


def residual_rows():
    rows = []
    for name, shape in RECIPES:
        orderings = []
        for ordering in ("auto", "greedy"):
            recipe_obj, plan, systems = sequence(name, shape, 24, [f"ordering.method={ordering}"])
            if plan.ordering in orderings:
                continue  # auto chose greedy
            orderings.append(plan.ordering)
            plain, scaled = starting_residuals(systems)
            rows.append([name, shape.strip("[]").replace(",", "x"), plan.ordering, spread(plain), spread(scaled),
                         f"{(plain > 1).sum()}/{plain.size}"])
            print(rows[-1], flush=True)
    return rows


def run_krylov(solver, systems, start: str):
    """Mean iterations and seconds per sample of one pass over (A, b) pairs."""
    if hasattr(solver, "scale_guess"):  # GMRES, GCRO-DR (PETSc's KSP starts from x0 as given)
        solver.scale_guess = start == "scaled"
    x, iterations, seconds = None, [], 0.0
    for A, b in systems:
        t = time.perf_counter()
        x, info = solver.solve(A, b, x0=None if start == "zero" else x)
        seconds += time.perf_counter() - t
        if not info.converged:
            raise RuntimeError(f"{solver.name} did not converge from a {start} start: {info.reason}")
        iterations.append(info.iterations)
    return float(np.mean(iterations)), seconds / len(systems)


def krylov_rows(repeats: int):
    rows = []
    for name in KRYLOV_RECIPES:
        recipe_obj, plan, systems = sequence(name, "[128,128]", 24, ["solver.method=gcrodr",
                                                                    "solver.preconditioner=ilu",
                                                                    "ordering.method=greedy"])
        systems = [(system.A, system.b) for system in systems]
        its, ms = {s: 0.0 for s in STARTS}, {s: [] for s in STARTS}
        for repeat in range(repeats):
            for start in STARTS[repeat % 3:] + STARTS[: repeat % 3]:
                solver = make_solver(plan, recipe_obj.data["solver"])
                its[start], seconds = run_krylov(solver, systems, start)
                ms[start].append(1e3 * seconds)
        rows.append([name, *(f"{its[s]:.1f}" for s in STARTS), *(f"{np.median(ms[s]):.1f}" for s in STARTS),
                     f"**{np.median(ms['scaled']) / np.median(ms['previous']):.2f}x**"])
        print(rows[-1], flush=True)
    return rows


def planner_rows(repeats: int):
    """The planner's own methods at 128² (PETSc KSP with multigrid): zero vs previous."""
    rows = []
    for name in ("darcy", "darcy_threshold", "advection_diffusion"):
        recipe_obj, plan, systems = sequence(name, "[128,128]", 24, ["ordering.method=greedy"])
        systems = [(system.A, system.b) for system in systems]
        its, ms = {}, {"zero": [], "previous": []}
        for repeat in range(repeats):
            for start in (["zero", "previous"] if repeat % 2 == 0 else ["previous", "zero"]):
                its[start], seconds = run_krylov(make_solver(plan, recipe_obj.data["solver"]), systems, start)
                ms[start].append(1e3 * seconds)
        rows.append([name, f"{plan.method} + {plan.preconditioner}", f"{its['zero']:.2f}", f"{its['previous']:.2f}",
                     f"{np.median(ms['zero']):.1f}", f"{np.median(ms['previous']):.1f}"])
        print(rows[-1], flush=True)
    return rows


def skr_rows():
    import benchmarks.skr_table1 as skr
    from solvers import GCRODR
    systems = skr.systems("skr", 100)
    rows = []
    for pc, (pc_type, options) in skr.PAPER_LAYOUT.items():
        its = {}
        for start in STARTS:
            solver = GCRODR(m=40, k=20, rtol=1e-5, maxiter=10000, backend="petsc", preconditioner=pc_type,
                            options=options, rebuild="always")
            its[start] = run_krylov(solver, systems, start)[0]
        rows.append([pc, *(f"{its[s]:.1f}" for s in STARTS), f"{its['scaled'] / its['previous']:.3f}"])
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-skr", action="store_true", help="leave out part 3 (about 3 minutes)")
    args = parser.parse_args()
    body = ("Starting residual ||b - A x0|| / ||b|| of the previous sample's solution (median (range) over 23 "
            "samples; a zero start has 1), as it is and scaled by alpha = (b, A x0) / ||A x0||^2 as GMRES and "
            "GCRO-DR now do. `ordering auto` is the plan's.\n\n"
            + table(["recipe", "grid", "ordering", "previous solution", "scaled", "worse than zero"],
                    residual_rows()))
    body += ("\n\nGCRO-DR(40,20) + ILU(0), greedy order, 128², 24 samples, rtol as the recipe: mean iterations "
             f"and ms per sample (median of {args.repeats} interleaved passes) from zero, from the previous "
             "solution and from it scaled.\n\n"
             + table(["recipe", "its zero", "its previous", "its scaled", "ms zero", "ms previous", "ms scaled",
                      "time scaled / previous"], krylov_rows(args.repeats)))
    body += ("\n\nThe planner's own methods at 128² (PETSc KSP, which starts from x0 as given), greedy order, "
             "24 samples: mean iterations and ms per sample from zero and from the previous solution.\n\n"
             + table(["recipe", "plan", "its zero", "its previous", "ms zero", "ms previous"],
                     planner_rows(args.repeats)))
    if not args.skip_skr:
        body += ("\n\nThe SKR paper's sequence (its matrix, 100 systems, greedy order, rtol 1e-5, preconditioners "
                 "as in skr_table1): GCRO-DR(40,20) mean iterations per system.\n\n"
                 + table(["PC", "zero", "previous", "scaled", "scaled / previous"], skr_rows()))
    print(body)
    write_section("warm_start", body)


if __name__ == "__main__":
    main()
