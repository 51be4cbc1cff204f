"""Where sorting, recycling and warm starts each matter: total iterations and time for
the same systems under GMRES(40) and GCRO-DR(40,20), cold or warm-started, in draw order
or greedy order, for every preconditioner of the SKR paper's Table 1 (none, jacobi,
bjacobi, sor, asm, ilu; the block preconditioners with 20 blocks as in benchmarks/
skr_table1.py), PETSc backend, one process. Runs on the advection-diffusion recipe
(nonsymmetric, the case GCRO-DR is for), on Darcy (SPD) and on Helmholtz (symmetric
indefinite; half the systems and at most two passes, as most of its solves run to maxiter).
For each preconditioner the seven variants take turns over ``--rounds`` passes in a
rotating order; times are the median of the passes (iterations do not change between
passes). A solve that reaches maxiter (5,000) counts as a failure and at 5,000 iterations.

Usage: python benchmarks/ablation.py [--samples 32] [--size 64] [--rounds 3]
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
from benchmarks.skr_table1 import PAPER_LAYOUT  # noqa: E402
from pdegen.bench import rotated  # noqa: E402
from pdegen.build import draw_values, grid_of, solve_order  # noqa: E402
from pdegen.plan import make_plan  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

VARIANTS = [  # (solver, warm start, sorted)
    ("gmres", False, False), ("gmres", True, False), ("gmres", True, True),
    ("gcrodr", False, False), ("gcrodr", True, False), ("gcrodr", False, True), ("gcrodr", True, True),
]

# (recipe, share of --samples, most passes or None): Helmholtz's failing solves each run 5,000 iterations
CASES = [("advection_diffusion", 1.0, None), ("darcy", 1.0, None), ("helmholtz", 0.5, 2)]


def run(systems, kind, pc, warm, rtol=1e-8):
    from solvers import GCRODR, GMRES
    pc_type, options = PAPER_LAYOUT[pc]
    solver = (GMRES(40, rtol, 5000, "petsc", pc_type, options, rebuild="always") if kind == "gmres"
              else GCRODR(40, 20, rtol, 5000, "petsc", pc_type, options, rebuild="always"))
    x, iterations, failures = None, 0, 0
    start = time.perf_counter()
    for A, b in systems:
        x, info = solver.solve(A, b, x0=x if warm else None)
        iterations += info.iterations
        failures += not info.converged
        x = x if info.converged else None
    return (time.perf_counter() - start) / len(systems), iterations / len(systems), failures


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sections = []
    for name, share, most_rounds in CASES:
        samples, rounds = max(2, round(share * args.samples)), min(args.rounds, most_rounds or args.rounds)
        recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml",
                             [f"samples={samples}", f"grid.shape=[{args.size},{args.size}]", "solver.method=gcrodr"])
        data, family = recipe.data, recipe.family
        grid = grid_of(data)
        greedy, _ = solve_order(data, family, make_plan(recipe))
        systems = {False: [family.system(grid, draw_values(data, family, i), data) for i in range(samples)]}
        systems[True] = [systems[False][i] for i in greedy]
        rows = []
        for pc in PAPER_LAYOUT:
            times, results = {v: [] for v in VARIANTS}, {}
            for round_ in range(rounds):
                for kind, warm, ordered in rotated(VARIANTS, round_):
                    seconds, its, failures = run([(s.A, s.b) for s in systems[ordered]], kind, pc, warm)
                    times[(kind, warm, ordered)].append(seconds)
                    results[(kind, warm, ordered)] = (its, failures)
            baseline = float(np.median(times[VARIANTS[0]]))
            for kind, warm, ordered in VARIANTS:
                seconds = float(np.median(times[(kind, warm, ordered)]))
                its, failures = results[(kind, warm, ordered)]
                label = f"{pc} (20 blocks)" if pc in ("bjacobi", "sor", "asm") else pc
                rows.append([label, f"{kind}{'(40)' if kind == 'gmres' else '(40,20)'}", "warm" if warm else "cold",
                             "greedy" if ordered else "draw", f"{its:.0f}", f"{1e3 * seconds:.1f}",
                             f"{baseline / seconds:.2f}x", failures])
                print(name, rows[-1], flush=True)
        sections.append(f"### {name} ({args.size}x{args.size}, {samples} systems, rtol 1e-8, median of "
                        f"{rounds} interleaved passes)\n\n" + table(
            ["PC", "solver", "start", "order", "iterations/system", "ms/system", "speed-up vs cold GMRES", "failures"],
            rows))
    write_section("ablation", "\n\n".join(sections))


if __name__ == "__main__":
    main()
