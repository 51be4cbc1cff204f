"""How good a start is the previous sample's solution, and when to scale it.

A build solves its samples in sequence and starts each iterative solve from the last
solution (pdegen's warm start). Whether that beats a zero start depends on the family: a
neighbour's solution can be far *worse* than zero when the right-hand side or the
operator's scale changes from sample to sample. GMRES and GCRO-DR therefore scale a guess
x0 that is worse than zero (||b - A x0|| > ||b||) by alpha = (b, A x0) / ||A x0||^2
(``scale_guess``, one reduction), after which ||b - A x0|| <= ||b||; a better guess is
kept as it is ("guarded", the default).

1. Every recipe (24 samples, small grids, the plan's order and the greedy one): the
   starting residual ||b - A x_prev|| / ||b|| of the previous solution (a direct solve's),
   as it is and scaled.
2. Krylov methods from four starts: zero, the previous solution, the previous solution
   always scaled, and guarded. GCRO-DR(40,20) + ILU(0) in greedy order at 128² (the
   planner's Krylov method for large nonsymmetric problems; forced here), and GMRES(40)
   without a preconditioner and with Jacobi on Darcy 64² in draw order (where the
   previous solution is a good start, and scaling it anyway costs iterations). Mean
   iterations; ms per sample, median of 3 interleaved passes.
3. The planner's own choice at 128² (CG or GMRES with geometric multigrid, PETSc KSP,
   not scaled): zero against the previous solution.
4. The SKR paper's sequence (benchmarks/skr_table1.py: its matrix, 100 systems, greedy
   order, rtol 1e-5): GCRO-DR(40,20) iterations from zero, the previous solution and
   guarded, and how many of its guesses were worse than zero (scaled).

Usage: python benchmarks/warm_start.py [--repeats 3] [--skip-skr]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as spla

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of, solve_order  # noqa: E402
from pdegen.plan import make_plan, make_solver  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

RECIPES = [("darcy", "[64,64]"), ("darcy_threshold", "[64,64]"), ("poisson", "[64,64]"),
           ("advection_diffusion", "[64,64]"), ("helmholtz", "[64,64]"), ("darcy3d", "[16,16,16]")]
KRYLOV_RECIPES = ["darcy", "darcy_threshold", "poisson", "advection_diffusion"]
STARTS = ["zero", "previous", "always scaled", "guarded"]


def sequence(name: str, shape: str, samples: int, overrides=()):
    """(recipe, plan, the samples' systems in solve order)."""
    recipe_obj = load_recipe(ROOT / "recipes" / f"{name}.yaml",
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
    """Mean iterations, seconds per sample and the number of guesses scaled, over one pass
    of (A, b) pairs from ``start`` (one of STARTS)."""
    if hasattr(solver, "scale_guess"):  # GMRES, GCRO-DR (PETSc's KSP starts from x0 as given)
        solver.scale_guess = start == "guarded"
    x, iterations, seconds, scaled = None, [], 0.0, 0
    for A, b in systems:
        t = time.perf_counter()
        x0 = None if start == "zero" else x
        if start == "always scaled" and x0 is not None:  # what scale_guess did before the guard
            Ax = A @ x0
            x0 = (b @ Ax) / (Ax @ Ax) * x0
        x, info = solver.solve(A, b, x0=x0)
        seconds += time.perf_counter() - t
        if not info.converged:
            raise RuntimeError(f"{solver.name} did not converge from a {start} start: {info.reason}")
        iterations.append(info.iterations)
        scaled += info.extra.get("guess_scale", 1.0) != 1.0
    return float(np.mean(iterations)), seconds / len(systems), scaled


# (recipe, grid, solver overrides, ordering, label): GCRO-DR + ILU as the planner runs it above
# its direct limit; our GMRES (numpy backend: on PETSc a GMRES plan is KSPGMRES, unscaled) on
# Darcy, where the previous solution is a good start.
KRYLOV_CASES = [(name, "[128,128]", ["solver.method=gcrodr", "solver.preconditioner=ilu"], "greedy",
                 "GCRO-DR(40,20) + ILU(0)") for name in KRYLOV_RECIPES]
KRYLOV_CASES += [("darcy", "[64,64]", ["solver.method=gmres", "solver.backend=numpy", f"solver.preconditioner={pc}"],
                  "none", f"GMRES(40) + {pc}") for pc in ("none", "jacobi")]


def krylov_rows(repeats: int):
    rows = []
    for name, shape, overrides, ordering, label in KRYLOV_CASES:
        recipe_obj, plan, systems = sequence(name, shape, 32 if shape == "[64,64]" else 24,
                                             [*overrides, f"ordering.method={ordering}"])
        systems = [(system.A, system.b) for system in systems]
        its, ms, scaled = {}, {start: [] for start in STARTS}, 0
        for repeat in range(repeats):
            for start in STARTS[repeat % 4:] + STARTS[: repeat % 4]:
                solver = make_solver(plan, recipe_obj.data["solver"])
                its[start], seconds, count = run_krylov(solver, systems, start)
                ms[start].append(1e3 * seconds)
                scaled = count if start == "guarded" else scaled
        rows.append([name, shape.strip("[]").replace(",", "x"), label, plan.ordering,
                     *(f"{its[start]:.1f}" for start in STARTS), f"{scaled}/{len(systems) - 1}",
                     *(f"{np.median(ms[start]):.1f}" for start in ("zero", "previous", "guarded"))])
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
                its[start], seconds, _ = run_krylov(make_solver(plan, recipe_obj.data["solver"]), systems, start)
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
        its, scaled = {}, 0
        for start in ("zero", "previous", "guarded"):
            solver = GCRODR(m=40, k=20, rtol=1e-5, maxiter=10000, backend="petsc", preconditioner=pc_type,
                            options=options, rebuild="always")
            its[start], _, count = run_krylov(solver, systems, start)
            scaled = count if start == "guarded" else scaled
        rows.append([pc, *(f"{its[start]:.1f}" for start in ("zero", "previous", "guarded")),
                     f"{its['guarded'] / its['previous']:.3f}", f"{scaled}/{len(systems) - 1}"])
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-skr", action="store_true", help="leave out part 4 (about 3 minutes)")
    args = parser.parse_args()
    body = ("Starting residual ||b - A x0|| / ||b|| of the previous sample's solution (median (range) over 23 "
            "samples; a zero start has 1), as it is and scaled by alpha = (b, A x0) / ||A x0||^2, as GMRES and "
            "GCRO-DR do when it is worse than zero. `ordering auto` is the plan's.\n\n"
            + table(["recipe", "grid", "ordering", "previous solution", "scaled", "worse than zero"],
                    residual_rows()))
    body += ("\n\nKrylov methods (rtol as the recipe) from zero, from the previous solution, from it always scaled, "
             "and guarded (scaled only when worse than zero: the default): mean iterations per sample, how many "
             f"guesses the guard scaled, ms per sample (median of {args.repeats} interleaved passes).\n\n"
             + table(["recipe", "grid", "solver", "order", "its zero", "its previous", "its always scaled",
                      "its guarded", "scaled", "ms zero", "ms previous", "ms guarded"], krylov_rows(args.repeats)))
    body += ("\n\nThe planner's own methods at 128² (PETSc KSP, which starts from x0 as given), greedy order, "
             "24 samples: mean iterations and ms per sample from zero and from the previous solution.\n\n"
             + table(["recipe", "plan", "its zero", "its previous", "ms zero", "ms previous"],
                     planner_rows(args.repeats)))
    if not args.skip_skr:
        body += ("\n\nThe SKR paper's sequence (its matrix, 100 systems, greedy order, rtol 1e-5, preconditioners "
                 "as in skr_table1): GCRO-DR(40,20) mean iterations per system, and how many guesses the guard "
                 "scaled.\n\n"
                 + table(["PC", "zero", "previous", "guarded", "guarded / previous", "scaled"], skr_rows()))
    print(body)
    write_section("warm_start", body)


if __name__ == "__main__":
    main()
