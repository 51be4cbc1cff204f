"""Where a sparse direct solve stops paying for time-dependent 2-D problems (recipes/heat.yaml):
the planner's direct limit and multigrid rule for families that solve one fixed matrix
I/Δt + θL per sample at every time step.

A factorisation is made once per sample and reused for all its steps, so its cost is spread
over them, while an iterative solve pays at every step. Each method as pdegen runs it (one
matrix updated in place, assembly included): the reused Cholesky; CG + geometric multigrid
(solvers.multigrid, Galerkin coarse operators: the operator has a mass term) set up once per
sample; CG + GAMG (what the planner used above its steady-state direct limit). The methods
take turns in a rotating order, median of the rounds; per method the time per sample over
all samples and over the samples after the first (the first carries the symbolic
factorisation: what a long build pays is the second).

Usage: python benchmarks/time_dependent_crossover.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.bench import rotated, run_bench  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

METHODS = {"direct": ["solver.method=direct"],
           "cg+mg": ["solver.method=cg", "solver.preconditioner=mg"],
           "cg+gamg": ["solver.method=cg", "solver.preconditioner=gamg"]}
# (grid side, samples, rounds) at the recipe's 20 steps, with 5 steps (the break-even is fitted
# from these two), and with 10 (a check of the fit: 512² should stay direct, 1024² tip to MG)
SIZES = ((128, 6, 3), (256, 4, 2), (512, 3, 1), (768, 2, 1), (1024, 2, 1))
SIZES_FEW_STEPS = ((256, 4, 2), (512, 3, 1), (1024, 2, 1))
SIZES_CHECK = ((512, 3, 1), (1024, 2, 1))


# The scheme these rows were measured with (heat's default since, Rannacher's start, adds
# one solve per sample to every method).
SCHEME = "discretization.scheme=crank-nicolson"


def timed(n: int, samples: int, rounds: int, steps: int) -> dict:
    """{method: (ms per sample, ms per later sample, iterations per sample)}, medians over rounds."""
    recipes = {name: load_recipe(ROOT / "recipes" / "heat.yaml", [
        f"samples={samples}", f"grid.shape=[{n},{n}]", f"discretization.steps={steps}", SCHEME, *settings])
        for name, settings in METHODS.items()}
    results = {name: [] for name in recipes}
    for round_ in range(rounds):
        for name in rotated(list(recipes), round_):
            result = run_bench(recipes[name], names=["auto"], repeats=1)["results"][0]
            assert result["failures"] == 0, (n, name, result)
            results[name].append(result)
    return {name: (float(np.median([r["ms_per_sample"] for r in rs])),
                   float(np.median([r["later_ms_per_sample"] for r in rs])), rs[0]["iterations"])
            for name, rs in results.items()}


def rows(sizes, steps: int) -> list:
    out = []
    for n, samples, rounds in sizes:
        times = timed(n, samples, rounds, steps)
        best = min(times, key=lambda k: times[k][1])
        out.append([f"{n}x{n}", steps, *(f"{all_:.0f} / {later:.0f} ({its:.0f} its)" for all_, later, its in
                                         times.values()), best,
                    f"{times['cg+mg'][1] / times['direct'][1]:.2f}x", samples, rounds])
        print(out[-1], flush=True)
    return out


def main():
    header = ["grid", "steps", *(f"{k} ms/sample: all / later" for k in METHODS), "fastest (later samples)",
              "MG / direct (later)", "samples", "rounds"]
    write_section("time_dependent_crossover", (
        "recipes/heat.yaml (Crank-Nicolson, a = exp(GRF), every state stored), one matrix per sample reused for "
        "all its steps: reused Cholesky, CG + geometric multigrid (Galerkin coarse operators, set up per sample), "
        "CG + GAMG; methods interleaved round by round, median of the rounds; per sample over all samples and over "
        "the samples after the first (which carries the symbolic factorisation); iterations summed over the steps "
        "in brackets.\n\n"
        + table(header, rows(SIZES, 20) + rows(SIZES_FEW_STEPS, 5) + rows(SIZES_CHECK, 10))), petsc=False)


if __name__ == "__main__":
    main()
