"""Where sorting, recycling and warm starts each matter: total iterations and time for
the same systems under GMRES(40) and GCRO-DR(40,20), cold or warm-started, in draw order
or greedy order, for several preconditioners (PETSc backend, one process). Runs on the
advection-diffusion recipe (nonsymmetric, the case GCRO-DR is for) and on Darcy.

Usage: python benchmarks/ablation.py [--samples 32] [--size 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of, solve_order  # noqa: E402
from pdegen.plan import make_plan  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

VARIANTS = [  # (solver, warm start, sorted)
    ("gmres", False, False), ("gmres", True, False), ("gmres", True, True),
    ("gcrodr", False, False), ("gcrodr", True, False), ("gcrodr", False, True), ("gcrodr", True, True),
]


def run(systems, kind, pc, warm, rtol=1e-8):
    from solvers import GCRODR, GMRES
    solver = (GMRES(40, rtol, 5000, "petsc", pc, rebuild="always") if kind == "gmres"
              else GCRODR(40, 20, rtol, 5000, "petsc", pc, rebuild="always"))
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
    args = parser.parse_args()
    sections = []
    for name, pcs in (("advection_diffusion", ("none", "jacobi", "ilu")), ("darcy", ("none", "jacobi", "ilu"))):
        recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml",
                             [f"samples={args.samples}", f"grid.shape=[{args.size},{args.size}]", "solver.method=gcrodr"])
        data, family = recipe.data, recipe.family
        grid = grid_of(data)
        greedy, _ = solve_order(data, family, make_plan(recipe))
        systems = {False: [family.system(grid, draw_values(data, family, i), data) for i in range(args.samples)]}
        systems[True] = [systems[False][i] for i in greedy]
        rows = []
        for pc in pcs:
            baseline = None
            for kind, warm, ordered in VARIANTS:
                seconds, its, failures = run([(s.A, s.b) for s in systems[ordered]], kind, pc, warm)
                baseline = baseline or seconds
                rows.append([pc, f"{kind}{'(40)' if kind == 'gmres' else '(40,20)'}", "warm" if warm else "cold",
                             "greedy" if ordered else "draw", f"{its:.0f}", f"{1e3 * seconds:.1f}",
                             f"{baseline / seconds:.2f}x", failures])
                print(name, rows[-1], flush=True)
        sections.append(f"### {name} ({args.size}x{args.size}, {args.samples} systems, rtol 1e-8)\n\n" + table(
            ["PC", "solver", "start", "order", "iterations/system", "ms/system", "speed-up vs cold GMRES", "failures"],
            rows))
    write_section("ablation", "\n\n".join(sections))


if __name__ == "__main__":
    main()
