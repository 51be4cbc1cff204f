"""Where a sparse direct solve stops beating CG + GAMG on 2-D Darcy (a = exp(GRF)),
the planner's DIRECT_MAX_UNKNOWNS_2D rule: both as pdegen runs them (one matrix updated
in place; direct = Cholesky with its symbolic factorisation reused; CG = warm start and
GAMG reused until iterations grow), 12 samples per size, median of 3 round-robin repeats,
assembly included.

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

SIZES = (96, 128, 160, 192, 224, 256)


def main():
    rows = []
    for n in SIZES:
        times = {}
        for method in ("direct", "cg"):
            recipe = load_recipe(ROOT / "recipes" / "darcy.yaml",
                                 ["samples=12", f"grid.shape=[{n},{n}]", f"solver.method={method}"])
            report = run_bench(recipe, names=["auto"], repeats=3)
            result = report["results"][0]
            assert result["failures"] == 0
            times[method] = (result["ms_per_sample"], result["iterations"])
        ratio = times["cg"][0] / times["direct"][0]
        rows.append([f"{n}x{n}", n * n, f"{times['direct'][0]:.1f}", f"{times['cg'][0]:.1f}", f"{times['cg'][1]:.1f}",
                     f"{ratio:.2f}"])
        print(rows[-1], flush=True)
    write_section("planner_crossover", table(
        ["grid", "unknowns", "direct ms/sample", "CG+GAMG ms/sample", "CG iterations", "CG / direct time"], rows))


if __name__ == "__main__":
    main()
