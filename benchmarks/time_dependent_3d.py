"""Time-stepping in 3-D (recipes/heat.yaml on a cube): the planner's CG + incomplete Cholesky
against CG + geometric multigrid, the question its 2-D rule (time_dependent_crossover) leaves.

Each step solves I/Δt + θL, one matrix per sample; the preconditioner is set up once per
sample and every step warm-starts from the last state, as ``pdegen build`` runs it. The
step matrix is dominated by its mass term I/Δt until Δt/h² is large, so incomplete
Cholesky needs few iterations (about 7 sqrt(Δt/h²) per step), and multigrid, whose V-cycle
costs about four ICC iterations, only wins where Δt/h² is large: big grids, few steps.

Methods: CG + ICC(0) (the plan); CG + geometric multigrid with Galerkin coarse operators
(what a recipe naming ``mg`` gets: the mass term rules out aggregation); and, not in
pdegen, CG + multigrid with *shifted aggregation* coarse operators: (1/2) P0^T (A - cI) P0
+ c P0^T P0 for A = K + cI, c = 1/Δt (aggregation's 1/2 is right for the second-order part
only; the mass term sums over the children). It shows what a cheaper coarse operator could
change. Methods take turns in a rotating order; medians over rounds; samples' solve time
(assembly excluded) summed over the steps.

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
from solvers.multigrid import GeometricMG, _parents  # noqa: E402

METHODS = {"cg+icc (plan)": [], "cg+mg (Galerkin)": ["solver.method=cg", "solver.preconditioner=mg"],
           "cg+mg (shifted aggregation)": ["solver.method=cg", "solver.preconditioner=mg"]}
# (cube side, steps, samples, rounds)
CASES = ((32, 20, 3, 3), (48, 20, 2, 2), (64, 20, 1, 2), (80, 20, 1, 1),
         (32, 5, 3, 3), (48, 5, 2, 2), (64, 5, 1, 2), (80, 5, 1, 1))
QUICK = ((32, 20, 2, 1), (32, 5, 2, 1))


class ShiftedAggregationMG(GeometricMG):
    """Aggregation coarse operators for A = K + cI (K second order): (1/2) P0^T K P0 plus the
    mass term summed over each coarse cell's children."""

    def __init__(self, shape, shift: float, **kwargs):
        super().__init__(shape, coarse="aggregation", **kwargs)
        self.shift = shift

    def _coarse_values(self, A):
        K = A.tocsr().copy()
        K.setdiag(K.diagonal() - self.shift)
        mass = np.full(K.shape[0], self.shift)
        out = []
        for (fine, coarse), data, level in zip(zip(self.shapes, self.shapes[1:]), super()._coarse_values(K),
                                               self._plan):
            mass = np.bincount(_parents(fine, coarse), weights=mass, minlength=level.shape[0])
            rows = np.repeat(np.arange(level.shape[0]), np.diff(level.indptr))
            diagonal = np.flatnonzero(rows == level.indices)
            data = data.copy()
            data[diagonal] += mass[rows[diagonal]]
            out.append(data)
        return out


def solver_for(name: str, recipe):
    """The plan's solver; for the shifted variant, the same CG + multigrid hierarchy with
    shifted aggregation coarse operators (C order, no start cycle)."""
    plan = make_plan(recipe)
    if "shifted" not in name:
        return make_solver(plan, recipe.data["solver"])
    from solvers.ksp import KSPSolver
    d = recipe.data["discretization"]
    multigrid = ShiftedAggregationMG(plan.grid_shape, shift=d["steps"] / d["t_end"],
                                     spacing=plan.grid_spacing or None, odd=plan.multigrid_odd)
    return KSPSolver("cg", "mg", rtol=recipe.data["solver"]["rtol"], options=plan.options, multigrid=multigrid)


def integrate(solver, family, grid, values, data) -> tuple[float, int]:
    """Seconds in the solver and CG iterations over one sample's steps."""
    system, rhs = family.stepper(grid, values, data)
    u = family.initial_state(grid, values)
    seconds, iterations = 0.0, 0
    for _ in range(data["discretization"]["steps"]):
        b = rhs(u)
        start = time.perf_counter()
        u, info = solver.solve(system.A, b, x0=u)
        seconds += time.perf_counter() - start
        assert info.converged, info
        iterations += info.iterations
    return seconds, iterations


def measure(n: int, steps: int, samples: int, rounds: int) -> dict:
    """{method: (ms per sample, iterations per sample)}, medians over rounds."""
    recipes = {name: load_recipe(ROOT / "recipes" / "heat.yaml", [
        f"grid.shape=[{n},{n},{n}]", f"discretization.steps={steps}", f"samples={samples}", *settings])
        for name, settings in METHODS.items()}
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
    plan_of = {}
    rows = []
    for n, steps, samples, rounds in QUICK if args.quick else CASES:
        result = measure(n, steps, samples, rounds)
        icc = result["cg+icc (plan)"][0]
        dt_h2 = (0.05 / steps) * n * n
        recipe = load_recipe(ROOT / "recipes" / "heat.yaml", [f"grid.shape=[{n},{n},{n}]",
                                                              f"discretization.steps={steps}"])
        plan_of[(n, steps)] = make_plan(recipe).describe().splitlines()[0]
        rows.append([f"{n}³", steps, f"{dt_h2:.1f}", *(f"{ms:.0f} ({its:.0f} its)" for ms, its in result.values()),
                     *(f"{result[k][0] / icc:.2f}x" for k in list(METHODS)[1:]), samples, rounds])
        print(rows[-1], flush=True)
    header = ["grid", "steps", "Δt/h²", *(f"{k} ms/sample" for k in METHODS), "Galerkin MG / ICC",
              "shifted aggregation / ICC", "samples", "rounds"]
    plans = sorted(set(plan_of.values()))
    body = ("recipes/heat.yaml on a cube (Crank-Nicolson to t = 0.05, a = exp(GRF)), one preconditioner per sample "
            "reused for its steps, each step warm-started; solve time summed over a sample's steps, CG iterations "
            "in brackets; methods in rotating order, median of the rounds. Shifted aggregation is not in pdegen "
            "(see the script's docstring). The plan at every size measured: " + "; ".join(plans) + ".\n\n"
            + table(header, rows))
    if not args.quick:
        write_section("time_dependent_3d", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
