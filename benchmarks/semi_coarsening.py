"""Semi-coarsening for stretched cells (solvers.multigrid): which axes a level halves.

2-D Darcy (recipes/darcy.yaml) on n x n cells of aspect ratio r (domain [0, r] x [0, 1]),
CG + geometric multigrid as the planner runs it (aggregation coarse operators, red-black
numbering, one full-multigrid start cycle), with four hierarchies: every axis halved
together (the hierarchy of square cells), and the short axis halved alone while the
long cells are more than `ratio` times longer, for ratio sqrt(2), 1.75 (the default,
SEMI_COARSENING_RATIO) and 2. The hierarchies take turns per system in a rotating order,
each solves it three times from zero and keeps its fastest time; the table gives the
median over systems of each one's time relative to halving every axis, with its mean
iterations. Every true residual is checked against rtol.

Usage: python benchmarks/semi_coarsening.py [--systems 16]
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
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

ASPECTS = (1.25, 1.5, 1.8, 2, 3, 4, 8)
HIERARCHIES = {"every axis": None, "ratio sqrt(2)": np.sqrt(2.0), "ratio 1.75": 1.75, "ratio 2": 2.0}
REPEATS = 3


def compare(n: int, aspect: float, count: int) -> dict:
    """{hierarchy: (times relative to every axis halved, mean iterations, level shapes)}."""
    recipe = load_recipe(ROOT / "recipes" / "darcy.yaml",
                         [f"grid.shape=[{n},{n}]", f"grid.extent=[[0,{aspect}],[0,1]]"])
    grid, rtol = grid_of(recipe.data), recipe.data["solver"]["rtol"]
    solvers, shapes = {}, {}
    for k, (name, ratio) in enumerate(HIERARCHIES.items()):
        mg = GeometricMG((n, n), coarse="aggregation", ordering="red-black", start_cycles=1,
                         spacing=None if ratio is None else grid.spacing, ratio=ratio or 1.0)
        solvers[name] = KSPSolver("cg", "mg", rtol=rtol, prefix=f"semi{k}_", multigrid=mg)
        shapes[name] = mg.shapes
    times, iterations = {name: [] for name in HIERARCHIES}, {name: [] for name in HIERARCHIES}
    for i in range(count + 1):
        system = recipe.family.system(grid, draw_values(recipe.data, recipe.family, i), recipe.data)
        A, b = system.A, system.b
        for name in rotated(list(HIERARCHIES), i):
            best = np.inf
            for _ in range(REPEATS):
                start = time.perf_counter()
                x, info = solvers[name].solve(A, b)
                best = min(best, time.perf_counter() - start)
            residual = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
            assert info.converged and residual <= rtol * (1 + 1e-6), (n, aspect, name, info, residual)
            if i:  # the first system sets up the hierarchies
                times[name].append(best)
                iterations[name].append(info.iterations)
    base = np.array(times["every axis"])
    return {name: (np.array(times[name]) / base, float(np.mean(iterations[name])), shapes[name])
            for name in HIERARCHIES}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=16, help="systems per aspect at 128² (half at 256²)")
    args = parser.parse_args()
    rows = []
    for n, count in ((128, args.systems), (256, max(4, args.systems // 2))):
        for aspect in ASPECTS:
            results = compare(n, aspect, count)
            cells = []
            for name, (ratio, its, shapes) in results.items():
                levels = " > ".join("x".join(map(str, s)) for s in shapes[1:3])
                cells.append(f"{np.median(ratio):.2f}x, {its:.1f} its ({levels})")
            rows.append([f"{aspect:g}:1", f"{n}²", *cells])
            print(rows[-1], flush=True)
    write_section("semi_coarsening", (
        f"CG + multigrid on 2-D Darcy with cells of aspect r:1, {args.systems} systems at 128² and "
        f"{max(4, args.systems // 2)} at 256², each hierarchy's fastest of {REPEATS} solves per system, "
        "rotating order; median over systems of the time relative to halving every axis, mean iterations "
        "(start cycle included), and the first two coarse grids.\n\n"
        + table(["cells", "grid", *HIERARCHIES], rows)),
        command="python benchmarks/semi_coarsening.py")


if __name__ == "__main__":
    main()
