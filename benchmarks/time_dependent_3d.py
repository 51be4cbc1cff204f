"""Time-stepping in 3-D (recipes/heat.yaml on a cube): the planner's CG + incomplete Cholesky
against CG + geometric multigrid, the question its 2-D rule (time_dependent_crossover) leaves.

Each step solves I/Δt + θL, one matrix per sample; the preconditioner is set up once per
sample and every step warm-starts from the last state, as ``pdegen build`` runs it. The
step matrix is dominated by its mass term I/Δt until Δt/h² is large, so incomplete
Cholesky needs few iterations (about 7 sqrt(Δt/h²) per step), and multigrid, whose V-cycle
costs about four ICC iterations, only wins where Δt/h² is large: big grids, few steps.

Methods: CG + ICC(0); CG + geometric multigrid with Galerkin coarse operators; and CG +
multigrid with *shifted aggregation* coarse operators, (1/2) P0^T K P0 + c P0^T P0 for
A = K + c I, c = 1/Δt (aggregation's 1/2 is right for the second-order part only; the mass
term sums over the children: solvers.multigrid's ``shift``), in C order and in red-black
numbering with one full-multigrid start cycle (the planner's 3-D variant for Darcy).
Methods take turns in a rotating order; medians over rounds; samples' solve time (assembly
excluded) summed over the steps. The last columns say which the planner picks.

Usage: python benchmarks/time_dependent_3d.py [--quick]
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
from pdegen.plan import make_plan, make_solver  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

# (label, recipe overrides, GeometricMG settings or None for the recipe's own plan)
METHODS = {
    "ICC": (["solver.method=cg", "solver.preconditioner=icc"], None),
    "MG Galerkin": (["solver.method=cg", "solver.preconditioner=mg"],
                    {"coarse": "galerkin", "ordering": "natural", "start_cycles": 0}),
    "MG shifted": (["solver.method=cg", "solver.preconditioner=mg"],
                   {"coarse": "aggregation", "ordering": "natural", "start_cycles": 0}),
    "MG shifted RB": (["solver.method=cg", "solver.preconditioner=mg"],
                      {"coarse": "aggregation", "ordering": "red-black", "start_cycles": 1}),
}
# The scheme these rows were measured with (heat's default since, Rannacher's start, adds
# one solve per sample to every method).
SCHEME = "discretization.scheme=crank-nicolson"
# (cube side, steps, samples, rounds)
CASES = ((32, 20, 3, 3), (48, 20, 2, 2), (64, 20, 1, 2), (80, 20, 1, 1), (96, 20, 1, 1), (128, 20, 1, 1),
         (96, 40, 1, 1),
         (48, 10, 2, 2), (64, 10, 1, 2), (80, 10, 1, 1), (96, 10, 1, 1),
         (32, 5, 3, 3), (48, 5, 2, 2), (64, 5, 1, 2), (80, 5, 1, 1), (96, 5, 1, 1))
QUICK = ((32, 20, 2, 1), (32, 5, 2, 1))


def solver_for(name: str, recipe):
    """CG + ICC as a recipe naming it gets it, or CG + geometric multigrid on the plan's
    hierarchy with the coarse operators, numbering and start cycles of ``METHODS``
    (aggregation with the mass term summed: shift = 1/Δt)."""
    plan = make_plan(recipe)
    settings = METHODS[name][1]
    if settings is None:
        return make_solver(plan, recipe.data["solver"])
    from solvers.ksp import KSPSolver
    d = recipe.data["discretization"]
    shift = d["steps"] / d["t_end"] if settings["coarse"] == "aggregation" else 0.0
    multigrid = GeometricMG(plan.grid_shape, spacing=plan.grid_spacing or None, odd=plan.multigrid_odd,
                            small_coarsest=plan.multigrid_small_coarsest, shift=shift, **settings)
    return KSPSolver("cg", "mg", rtol=recipe.data["solver"]["rtol"], multigrid=multigrid)


def integrate(solver, family, grid, values, data) -> tuple[float, int]:
    """Seconds in the solver and CG iterations over one sample's steps."""
    system, rhs = family.stepper(grid, values, data)
    u = family.initial_state(grid, values)
    seconds, iterations = 0.0, 0
    for step in range(1, data["discretization"]["steps"] + 1):
        for _ in range(family.solves_in_step(data, step)):
            b = rhs(u, step)
            start = time.perf_counter()
            u, info = solver.solve(system.A, b, x0=u)
            seconds += time.perf_counter() - start
            assert info.converged, info
            iterations += info.iterations
    return seconds, iterations


def measure(n: int, steps: int, samples: int, rounds: int) -> dict:
    """{method: (ms per sample, iterations per sample)}, medians over rounds."""
    recipes = {name: load_recipe(ROOT / "recipes" / "heat.yaml", [
        f"grid.shape=[{n},{n},{n}]", f"discretization.steps={steps}", f"samples={samples}", SCHEME, *overrides])
        for name, (overrides, _) in METHODS.items()}
    any_recipe = next(iter(recipes.values()))
    grid = grid_of(any_recipe.data)
    values = [draw_values(any_recipe.data, any_recipe.family, i) for i in range(samples)]
    timings = {name: [] for name in recipes}
    iterations = {}
    for round_ in range(rounds):
        for name in rotated(list(recipes), round_):
            solver = solver_for(name, recipes[name])
            results = [integrate(solver, recipes[name].family, grid, v, recipes[name].data) for v in values]
            timings[name].append(1e3 * sum(s for s, _ in results) / samples)
            iterations[name] = sum(i for _, i in results) / samples
    return {name: (float(np.median(timings[name])), iterations[name]) for name in recipes}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32³ only, one round (a smoke test)")
    args = parser.parse_args()
    rows = []
    multigrids = list(METHODS)[1:]
    for n, steps, samples, rounds in QUICK if args.quick else CASES:
        result = measure(n, steps, samples, rounds)
        icc = result["ICC"][0]
        dt_h2 = (0.05 / steps) * n * n
        recipe = load_recipe(ROOT / "recipes" / "heat.yaml", [f"grid.shape=[{n},{n},{n}]",
                                                              f"discretization.steps={steps}", SCHEME])
        plan = make_plan(recipe)
        chosen = plan.method + " + " + plan.preconditioner
        if plan.preconditioner == "mg":
            chosen += f" ({plan.multigrid_coarse}, {plan.multigrid_ordering})"
        rows.append([f"{n}³", steps, f"{dt_h2:.1f}", *(f"{ms:.0f} ({its:.0f} its)" for ms, its in result.values()),
                     *(f"{result[k][0] / icc:.2f}x" for k in multigrids), chosen, samples, rounds])
        print(rows[-1], flush=True)
    header = ["grid", "steps", "Δt/h²", *(f"{k} ms/sample" for k in METHODS), *(f"{k} / ICC" for k in multigrids),
              "the plan", "samples", "rounds"]
    body = ("recipes/heat.yaml on a cube (Crank-Nicolson to t = 0.05, a = exp(GRF)), one preconditioner per sample "
            "reused for its steps, each step warm-started; solve time summed over a sample's steps, CG iterations "
            "in brackets; methods in rotating order, median of the rounds. All CG: ICC = incomplete Cholesky ICC(0); "
            "MG = geometric multigrid, Galerkin = Galerkin coarse operators (C order), shifted = aggregation coarse "
            "operators with the mass term 1/Δt summed over the fine cells (solvers.multigrid, `shift`) in C order, "
            "shifted RB = the same in red-black numbering with one full-multigrid start cycle. `the plan`: what "
            "`pdegen build` chooses for the case.\n\n" + table(header, rows))
    if not args.quick:
        write_section("time_dependent_3d", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
