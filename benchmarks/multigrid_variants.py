"""Geometric multigrid variants (solvers.multigrid) side by side: C order or red-black
numbering of every level, 0-2 full-multigrid start cycles before CG, restriction by a
stored P^T or by PETSc's transpose product, W-cycles or two smoothing sweeps. The
planner's MG_VARIANTS table comes from this.

Each case solves one recipe's systems in sequence, as `pdegen build` does (one
KSPSolver per variant, warm start from that variant's previous solution, matrix and
coarse levels updated in place). For every system the variants take turns in a
rotating order, each solving it once: a repeat of the same matrix would skip the
per-matrix work (coarse operators rewritten, coarsest level refactorised) that every
sample of a build pays. The table gives the median over systems of each variant's time
relative to C order without start cycles, with the quartiles. Every solution's true
residual is checked against rtol.

Usage: python benchmarks/multigrid_variants.py [--systems 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from benchmarks.side_by_side import recipe_systems, solve_side_by_side  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

# label: GeometricMG options (the first is the reference; restriction is P^T stored unless said)
VARIANTS = {"natural, 0 start": {"ordering": "natural", "start_cycles": 0},
            "natural, 1 start": {"ordering": "natural", "start_cycles": 1},
            "red-black, 0 start": {"ordering": "red-black", "start_cycles": 0},
            "red-black, 1 start": {"ordering": "red-black", "start_cycles": 1},
            "red-black, 1 start, transpose restriction": {"ordering": "red-black", "start_cycles": 1,
                                                          "explicit_restriction": False},
            "red-black, 2 start": {"ordering": "red-black", "start_cycles": 2},
            # stronger cycles: more work per iteration for fewer iterations (PETSc options)
            "red-black, 1 start, W-cycle": {"ordering": "red-black", "start_cycles": 1,
                                            "options": {"pc_mg_cycle_type": "w"}},
            "red-black, 1 start, 2 sweeps per smoothing": {"ordering": "red-black", "start_cycles": 1,
                                                           "options": {"mg_levels_ksp_max_it": 2}}}
# (recipe, grid shape, coarse operators, number of systems relative to --systems)
CASES = [("darcy", [128, 128], "aggregation", 1.0), ("darcy", [256, 256], "aggregation", 0.5),
         ("darcy_threshold", [128, 128], "aggregation", 1.0), ("darcy", [128, 128], "galerkin", 1.0),
         ("darcy3d", [32, 32, 32], "aggregation", 0.5), ("darcy3d", [48, 48, 48], "aggregation", 0.25),
         ("darcy3d", [64, 64, 64], "aggregation", 0.125)]


def systems_of(recipe_name: str, shape: list[int], count: int):
    """The recipe's rtol and its first ``count`` systems (A, b) on ``shape``, in sample order."""
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.yaml", [f"grid.shape={shape}"])
    return recipe.data["solver"]["rtol"], recipe_systems(recipe, count)


def compare(recipe_name: str, shape: list[int], coarse: str, count: int) -> dict:
    """{variant: (per-system times relative to the first variant, mean iterations, median ms)}."""
    names = list(VARIANTS)
    rtol, systems = systems_of(recipe_name, shape, count + 1)
    solvers = {name: KSPSolver("cg", "mg", rtol=rtol, options=VARIANTS[name].get("options"), prefix=f"mgvariant{k}_",
                               multigrid=GeometricMG(shape, coarse=coarse, **{
                                   key: value for key, value in VARIANTS[name].items() if key != "options"}))
               for k, name in enumerate(names)}
    runs = solve_side_by_side(solvers, systems, rtol)
    return {name: (runs[name].relative_to(runs[names[0]]), runs[name].mean_iterations, runs[name].median_ms)
            for name in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=64, help="systems per 2-D 128² case (others scaled)")
    args = parser.parse_args()
    rows = []
    for recipe_name, shape, coarse, share in CASES:
        count = max(4, round(share * args.systems))
        results = compare(recipe_name, shape, coarse, count)
        for name, (ratio, its, ms) in results.items():
            quartiles = f"{np.percentile(ratio, 25):.2f}-{np.percentile(ratio, 75):.2f}"
            rows.append([recipe_name, "x".join(map(str, shape)), coarse, count, name, f"{its:.2f}", f"{ms:.2f}",
                         f"**{np.median(ratio):.2f}**", quartiles])
            print(rows[-1], flush=True)
    write_section("multigrid_variants", (
        "CG + geometric multigrid (SOR V-cycles) on each recipe's systems in sequence, warm-started, every "
        "true residual <= rtol (1e-8). Each system solved once per variant (as in a build), the variants "
        "in a rotating order; `ratio` = median over systems of time / time of C order with no start cycle "
        "(quartiles beside it). Iterations count start cycles. Restriction is a stored P^T except where the "
        "variant says transpose (PETSc's MatMultTranspose with the interpolation).\n\n"
        + table(["recipe", "grid", "coarse", "systems", "numbering, start cycles", "iterations", "ms/solve",
                 "ratio", "quartiles"], rows)))


if __name__ == "__main__":
    main()
