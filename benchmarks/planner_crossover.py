"""Where a sparse direct solve stops beating the iterative alternatives on 2-D Darcy
(a = exp(GRF)), and where geometric multigrid overtakes CG + ICC in 3-D: the planner's
DIRECT_MAX_UNKNOWNS_2D / MG rules, all as pdegen runs them
(one matrix updated in place; direct = Cholesky with its symbolic factorisation reused;
CG with warm starts, preconditioned by GAMG or by geometric multigrid, set up for each
sample), 12 samples per size, median of 3 round-robin repeats, assembly included.

Usage: python benchmarks/planner_crossover.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.bench import run_bench  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.multigrid import level_shapes  # noqa: E402

SIZES = (64, 96, 128, 160, 192, 224, 256)
SIZES_3D = (32, 48)
METHODS_3D = {"CG+ICC": ["solver.method=cg", "solver.preconditioner=icc"],
              "CG+MG": ["solver.method=cg", "solver.preconditioner=mg"]}
METHODS = {"direct": ["solver.method=direct"],
           "cg+gamg": ["solver.method=cg", "solver.preconditioner=gamg"],
           "cg+mg": ["solver.method=cg", "solver.preconditioner=mg"]}


def timed(recipe_file: str, shape: list[int], samples: int, settings: list[str]) -> tuple[float, float]:
    """(ms/sample, iterations) of `auto` for the recipe with ``settings``, median of 3."""
    recipe = load_recipe(ROOT / "recipes" / recipe_file, [f"samples={samples}", f"grid.shape={shape}", *settings])
    result = run_bench(recipe, names=["auto"], repeats=3)["results"][0]
    assert result["failures"] == 0
    return result["ms_per_sample"], result["iterations"]


def row(label, unknowns, times: dict, methods) -> list:
    best = min(times, key=lambda k: times[k][0])
    cells = [f"{times[k][0]:.1f} ({times[k][1]:.1f} its)" if k in times else "-" for k in methods]
    print([label, unknowns, *cells, best], flush=True)
    return [label, unknowns, *cells, best]


def main():
    rows = []
    for n in SIZES:
        times = {name: timed("darcy.yaml", [n, n], 12, settings) for name, settings in METHODS.items()
                 if name != "cg+mg" or len(level_shapes((n, n))) >= 3}
        rows.append(row(f"{n}x{n}", n * n, times, METHODS))
    rows3 = []
    for n in SIZES_3D:
        times = {name: timed("darcy3d.yaml", [n, n, n], 8, settings) for name, settings in METHODS_3D.items()}
        rows3.append(row(f"{n}³", n**3, times, METHODS_3D))
    write_section("planner_crossover", table(
        ["grid", "unknowns", "direct ms/sample", "CG+GAMG ms/sample", "CG+MG ms/sample", "fastest"], rows)
        + "\n\n3-D Darcy (recipes/darcy3d.yaml), 8 samples, median of 3:\n\n"
        + table(["grid", "unknowns", *(f"{k} ms/sample" for k in METHODS_3D), "fastest"], rows3))


if __name__ == "__main__":
    main()
