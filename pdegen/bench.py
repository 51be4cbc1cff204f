"""`pdegen bench`: the same sampled systems under several solve strategies, side by side.

Strategies (all on PETSc, one process, assembly from numpy included in every timing):

- ``auto``: what ``pdegen build`` would do (the planner's method, order, reuse);
- ``skr``: sorted GCRO-DR(40,20) with the recipe's preconditioner, warm-started;
- ``gcrodr-unsorted``: the same in draw order;
- ``gmres``: independent GMRES(40) per system (new matrix and preconditioner, zero guess);
- ``cg-gamg``: independent CG + GAMG per system (SPD families only);
- ``direct``: independent sparse Cholesky/LU per system (new matrix each time);
- ``direct-reuse``: one matrix updated in place, numeric refactorisation only;
- ``cg-gamg-reuse``: one matrix updated in place, CG + GAMG set up per system, warm
  start (SPD families only).

The last two are what a PETSc expert would script by hand; "vs expert" compares with the
faster of them.

Strategies run round-robin ``repeats`` times, each round starting one strategy later (the
median counts); every solution's true residual is recomputed and failures are reported,
never hidden. Besides the mean over all samples (what a build of this many samples pays,
and what the speed-ups compare), the report splits off the first sample, which pays for
the set-up (matrix, symbolic factorisation, multigrid hierarchy), from the mean of the
others (what each sample costs in a long build).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from .build import draw_values, grid_of, solve_order
from .plan import make_plan, make_solver

STRATEGIES = ("auto", "skr", "gcrodr-unsorted", "gmres", "cg-gamg", "direct", "direct-reuse", "cg-gamg-reuse")
EXPERT_STRATEGIES = ("direct-reuse", "cg-gamg-reuse")


@dataclass
class StrategyResult:
    name: str
    ms_per_sample: float  # over all samples, set-up included: what a build of this size pays
    iterations: float
    failures: int
    worst_residual: float
    description: str
    first_ms: float  # the first sample (matrix, factorisation or hierarchy set up)
    later_ms_per_sample: float  # the others (NaN for one sample): the cost per sample of a long build
    round_ms: list  # ms/sample of each round, in round order (for ratios paired round by round)


def _pc_for(recipe: dict, plan) -> str:
    pc = recipe["solver"]["preconditioner"]
    if pc == "auto":
        pc = "ilu" if plan.method == "direct" else plan.preconditioner
    # GCRO-DR's PETSc backend takes PCs built from the matrix alone, not a grid hierarchy.
    return "ilu" if pc == "mg" else pc


def _strategy(name, recipe, family, plan):
    """(order key, solver factory, fresh-per-sample?, warm start?, description)."""
    from solvers import GCRODR
    from solvers.ksp import KSPSolver
    rtol, maxiter = recipe["solver"]["rtol"], recipe["solver"]["maxiter"]
    pc = _pc_for(recipe, plan)
    factor = "cholesky" if family.positive_definite else "lu"
    if name == "auto":
        return plan.ordering, lambda: make_solver(plan, recipe["solver"]), False, plan.warm_start, \
            f"planner: {plan.method} + {plan.preconditioner}"
    if name == "skr":
        return "greedy", lambda: GCRODR(40, 20, rtol, maxiter, "petsc", pc, rebuild="always"), False, True, \
            f"sorted GCRO-DR(40,20) + {pc}, warm start"
    if name == "gcrodr-unsorted":
        return "none", lambda: GCRODR(40, 20, rtol, maxiter, "petsc", pc, rebuild="always"), False, True, \
            f"GCRO-DR(40,20) + {pc} in draw order, warm start"
    if name == "gmres":
        return "none", lambda: KSPSolver("gmres", pc, rtol, maxiter, {"ksp_gmres_restart": 40},
                                         prefix="bench_gmres_"), True, False, f"independent GMRES(40) + {pc}"
    if name == "cg-gamg":
        return "none", lambda: KSPSolver("cg", "gamg", rtol, maxiter, prefix="bench_cg_"), True, False, \
            "independent CG + GAMG"
    if name == "direct":
        return "none", lambda: KSPSolver("preonly", factor, rtol, prefix="bench_direct_"), True, False, \
            f"independent sparse {factor}, new matrix each"
    if name == "direct-reuse":
        return "none", lambda: KSPSolver("preonly", factor, rtol, prefix="bench_reuse_"), False, False, \
            f"one matrix updated in place, {factor} (symbolic factorisation reused)"
    if name == "cg-gamg-reuse":
        return "none", lambda: KSPSolver("cg", "gamg", rtol, maxiter, prefix="bench_cg_reuse_"), False, True, \
            "one matrix updated in place, CG + GAMG set up per system, warm start"
    raise ValueError(name)


def available(recipe, family, names=STRATEGIES) -> list[str]:
    out = []
    for name in names:
        if name in ("cg-gamg", "cg-gamg-reuse") and not family.positive_definite:
            continue
        if family.time_dependent and name not in ("auto", "direct", "direct-reuse"):
            continue
        out.append(name)
    return out


def _run_once(name, recipe, family, plan, grid, order):
    """Seconds per sample, iterations and residuals of one pass of a strategy."""
    _, factory, fresh, warm, _ = _strategy(name, recipe, family, plan)
    solver = None if fresh else factory()
    seconds, iterations, residuals = [], [], []
    previous = None
    for sample_id in order:
        values = draw_values(recipe, family, int(sample_id))
        start = time.perf_counter()
        if fresh:
            solver = factory()
        if family.time_dependent:
            its, worst = [], []

            def solve(A, b, x0, last):
                x, info = solver.solve(A, b, x0=x0 if warm else None)
                its.append(info.iterations)
                worst.append(info.residual)
                return x
            for _ in family.trajectory(grid, values, recipe, solve):
                pass
            seconds.append(time.perf_counter() - start)
            iterations.append(sum(its))
            residuals.append(max(worst))
            continue
        system = family.system(grid, values, recipe)
        x, info = solver.solve(system.A, system.b, x0=previous if warm else None)
        seconds.append(time.perf_counter() - start)
        previous = x if info.converged else None
        iterations.append(info.iterations)
        r = system.b - system.A @ x
        residuals.append(float(np.linalg.norm(r) / (np.linalg.norm(system.b) or 1.0)))
    return np.array(seconds), np.array(iterations), np.array(residuals)


def rotated(names: list[str], repeat: int) -> list[str]:
    """Round ``repeat``'s running order: each round starts one strategy later, so none
    always runs first (on cold caches) or right after the same neighbour."""
    shift = repeat % len(names) if names else 0
    return names[shift:] + names[:shift]


def nothing_to_compare(recipe_obj) -> str | None:
    """Why a recipe has no strategies to compare (it solves no linear systems), or None."""
    recipe = recipe_obj.data
    if not recipe_obj.family.solves_systems(recipe):
        return (f"nothing to compare: discretization.scheme {recipe['discretization']['scheme']} solves no linear "
                "systems (bench compares ways of solving them; a finite-volume scheme has some)")
    return None


def run_bench(recipe_obj, names=None, repeats: int = 1, progress=None, first_round: int = 0,
              after_round=None) -> dict:
    """Run the strategies round-robin; returns a JSON-ready report. ``first_round`` numbers
    the first round for the rotation; ``after_round(r)``, if given, runs after round r (to
    time something else side by side with every round). ValueError for a recipe with
    :func:`nothing_to_compare`."""
    if (reason := nothing_to_compare(recipe_obj)) is not None:
        raise ValueError(reason)
    recipe, family = recipe_obj.data, recipe_obj.family
    plan = make_plan(recipe_obj)
    grid = grid_of(recipe)
    names = available(recipe, family, names or STRATEGIES)
    orders = {"none": np.arange(recipe["samples"])}
    orders["greedy"], ordering = solve_order(recipe, family, type(plan)(**{**plan.as_dict(), "ordering": "greedy"}))
    totals, firsts, laters = ({name: [] for name in names} for _ in range(3))
    # Per sample, the worst residual of any round (NaN stays NaN, and counts as a failure).
    iterations, worst = {name: [] for name in names}, {}
    for repeat in range(repeats):
        for name in rotated(names, first_round + repeat):
            key = _strategy(name, recipe, family, plan)[0]
            seconds, its, residuals = _run_once(name, recipe, family, plan, grid, orders[key])
            totals[name].append(seconds.mean())
            firsts[name].append(seconds[0])
            laters[name].append(seconds[1:].mean() if seconds.size > 1 else np.nan)
            iterations[name].append(its)
            worst[name] = np.maximum(worst[name], residuals) if name in worst else residuals
            if progress is not None:
                progress.update(1)
        if after_round is not None:
            after_round(repeat)
    rtol = recipe["solver"]["rtol"]
    results = []
    for name in names:
        its, residuals = np.concatenate(iterations[name]), worst[name]
        results.append(StrategyResult(name, 1e3 * float(np.median(totals[name])), float(its.mean()),
                                      int((~(residuals <= rtol * (1 + 1e-6))).sum()), float(residuals.max()),
                                      _strategy(name, recipe, family, plan)[4],
                                      1e3 * float(np.median(firsts[name])), 1e3 * float(np.median(laters[name])),
                                      [1e3 * float(t) for t in totals[name]]))
    return {"recipe": recipe["name"], "family": recipe["family"], "grid": recipe["grid"]["shape"],
            "samples": recipe["samples"], "repeats": repeats, "rtol": rtol, "plan": plan.as_dict(),
            "greedy_tour": ordering, "results": [asdict(r) for r in results]}


def format_table(report: dict) -> str:
    rows = report["results"]
    ok = [r for r in rows if r["failures"] == 0]
    independent = [r for r in ok if r["name"] in ("gmres", "cg-gamg", "direct")]
    best_independent = min(independent, key=lambda r: r["ms_per_sample"]) if independent else None
    experts = [r for r in ok if r["name"] in EXPERT_STRATEGIES]
    expert = min(experts, key=lambda r: r["ms_per_sample"]) if experts else None
    lines = [("| strategy | ms/sample | first sample ms | later samples ms | iterations | failures | worst residual "
              "| vs best independent | vs expert |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vs_ind = f"{best_independent['ms_per_sample'] / r['ms_per_sample']:.2f}x" if best_independent else "-"
        vs_exp = f"{expert['ms_per_sample'] / r['ms_per_sample']:.2f}x" if expert else "-"
        lines.append(f"| {r['name']} ({r['description']}) | {r['ms_per_sample']:.2f} | {r['first_ms']:.2f} | "
                     f"{r['later_ms_per_sample']:.2f} | {r['iterations']:.1f} | {r['failures']} | "
                     f"{r['worst_residual']:.1e} | {vs_ind} | {vs_exp} |")
    winner = min(ok, key=lambda r: r["ms_per_sample"]) if ok else None
    head = (f"{report['recipe']} ({report['family']}, grid {'x'.join(map(str, report['grid']))}, "
            f"{report['samples']} samples, rtol {report['rtol']:.0e}, median of {report['repeats']})")
    tail = f"\n\nFastest: **{winner['name']}** ({winner['ms_per_sample']:.2f} ms/sample)." if winner else ""
    return head + "\n\n" + "\n".join(lines) + tail


def plot_report(report: dict, out) -> None:
    from .plot import _pyplot
    plt = _pyplot()
    rows = report["results"]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    values = [r["ms_per_sample"] for r in rows]
    colours = ["tab:red" if r["failures"] else "tab:blue" for r in rows]
    ax.barh(names, values, color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("ms per sample (assembly + solve)")
    ax.set_title(f"{report['recipe']}: {'x'.join(map(str, report['grid']))}, {report['samples']} samples")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.1f}", va="center")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2)
