"""Coefficient contrast and the multigrid's coarse operators: aggregation (the planner's
choice for pure diffusion, cheap to form) against Galerkin products (PETSc's P^T A P)
and the reused Cholesky, as the jump in the Darcy coefficient grows.

Darcy at 128² to 512² (recipes/darcy_threshold.yaml with `high` = contrast and `low` = 1:
a piecewise-constant coefficient with jumps across the GRF's level set; and
recipes/darcy.yaml with the GRF's amplitude `sigma` scaled, a = exp(GRF)). Each solver is
set up as `pdegen build` runs it: CG + geometric multigrid in red-black numbering with
aggregation coarse operators and one full-multigrid start cycle, or with Galerkin coarse
operators and none (the planner's variants, docs/benchmarks.md, multigrid_variants), and with
Galerkin coarse operators smoothed by ICC(0) in C order instead of SOR (symmetric, so CG
still applies; a candidate for the sharp jumps where SOR smoothing weakens); the
systems in sample order, warm-started, each solved once per solver in a rotating order,
maxiter 500. The table gives each solver's mean iterations (start cycle included, and a
discarded diverging start), median ms per system and failures (no convergence to rtol),
and the median max/min ratio of the coefficient over the samples. In 3-D (32³, 48³;
recipes/darcy3d.yaml thresholded) the planner's multigrid, with aggregation or Galerkin
coarse operators, against CG + ICC.

Usage: python benchmarks/contrast.py [--systems 16] [--sizes 128 256 384 512] [--only-3d]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from benchmarks.side_by_side import solve_side_by_side  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.fields import default_sigma  # noqa: E402
from pdegen.plan import mg_variant  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG  # noqa: E402

MAXITER = 500
# (label, recipe, overrides)
JUMPS = (4, 10, 30, 100, 1e3, 1e4, 1e6)
CASES = ([(f"threshold {c:g}:1", "darcy_threshold",
           [f"parameters.coefficient.high={c}", "parameters.coefficient.low=1"]) for c in JUMPS]
         + [(f"exp(GRF), sigma x{m}", "darcy", [f"parameters.coefficient.sigma={m * default_sigma(2.5, 7.0, 2)}"])
            for m in (1, 2, 4, 8)])
CASES_3D = [(f"threshold {c:g}:1", "darcy3d", ["parameters.coefficient.transform=threshold",
                                                f"parameters.coefficient.high={c}", "parameters.coefficient.low=1"])
            for c in (10, 100, 1e3)]
SIZES_3D = {32: 8, 48: 4}  # cells per axis: systems
# The rows repeated on larger grids (256²; from 384², where the direct/multigrid crossover is)
LARGER = {256: ("threshold 4:1", "threshold 10:1", "threshold 30:1", "threshold 100:1", "threshold 1000:1",
                "exp(GRF), sigma x1"),
          384: ("threshold 100:1", "threshold 1000:1"), 512: ("threshold 100:1", "threshold 1000:1")}


def variants(ndim: int) -> str:
    """The planner's numbering and start cycles for both coarse operators, in words."""
    words = []
    for coarse in ("aggregation", "Galerkin"):
        ordering, cycles = mg_variant(ndim, coarse.lower())
        numbering = "red-black" if ordering == "red-black" else "C order"
        words.append(f"{coarse}: {numbering}, {cycles} full-multigrid start cycle{'s' if cycles != 1 else ''}")
    return "; ".join(words)


def solvers(shape: list[int], rtol: float) -> dict:
    """The planner's multigrid with aggregation and with Galerkin coarse operators (its
    numbering and start cycles for each: plan.mg_variant), and its choice without multigrid:
    the reused Cholesky in 2-D, CG + ICC in 3-D."""
    def mg(coarse, k):
        ordering, cycles = mg_variant(len(shape), coarse)
        return KSPSolver("cg", "mg", rtol=rtol, maxiter=MAXITER, prefix=f"contrast{k}_",
                         multigrid=GeometricMG(shape, coarse=coarse, ordering=ordering, start_cycles=cycles))
    icc_smoothed = KSPSolver("cg", "mg", rtol=rtol, maxiter=MAXITER, prefix="contrastmgicc_",
                             options={"mg_levels_pc_type": "icc"}, multigrid=GeometricMG(shape, coarse="galerkin"))
    if len(shape) == 3:
        return {"aggregation": mg("aggregation", 0), "galerkin": mg("galerkin", 1), "galerkin-icc": icc_smoothed,
                "icc": KSPSolver("cg", "icc", rtol=rtol, maxiter=MAXITER, prefix="contrasticc_")}
    return {"aggregation": mg("aggregation", 0), "galerkin": mg("galerkin", 1), "galerkin-icc": icc_smoothed,
            "cholesky": KSPSolver("preonly", "cholesky", rtol=rtol, prefix="contrastdirect_")}


def compare(recipe_name: str, shape: list[int], overrides: list[str], count: int, make_solvers=None):
    """{solver: Runs} and the median max/min ratio of the coefficient over the samples;
    ``make_solvers(shape, rtol)`` gives the solvers (default :func:`solvers`)."""
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.yaml", [f"grid.shape={shape}", *overrides])
    grid, rtol = grid_of(recipe.data), recipe.data["solver"]["rtol"]
    contrast = []

    def systems():
        for i in range(count + 1):
            values = draw_values(recipe.data, recipe.family, i)
            contrast.append(values["coefficient"].max() / values["coefficient"].min())
            system = recipe.family.system(grid, values, recipe.data)
            yield system.A, system.b
    runs = solve_side_by_side((make_solvers or solvers)(shape, rtol), systems(), rtol, allow_failures=True)
    return runs, float(np.median(contrast))


def cells(runs) -> list[str]:
    return [f"{r.mean_iterations:.1f} its, {r.median_ms:.1f} ms" + (f", **{sum(r.failed)} failed**" if any(r.failed)
                                                                   else "") for r in runs.values()]


def three_dimensional() -> None:
    rows_3d = []
    for n, count in SIZES_3D.items():
        for label, recipe_name, overrides in CASES_3D:
            runs, contrast = compare(recipe_name, [n, n, n], overrides, count)
            rows_3d.append([f"{n}³", count, label, f"{contrast:.3g}", *cells(runs)])
            print(rows_3d[-1], flush=True)
    write_section("contrast_3d", (
        "3-D Darcy (recipes/darcy3d.yaml with its GRF thresholded): CG + multigrid as the planner builds it there "
        f"({variants(3)}; coarsest grid at most 512 cells with aggregation, 216 with Galerkin) and CG + incomplete "
        "Cholesky, its choice without multigrid; systems in sample order, warm-started, each solved once per solver "
        f"in a rotating order, maxiter {MAXITER}; per solver the mean iterations, the median ms per system and the "
        "systems that failed to reach rtol (1e-8). `max/min` is the median over samples of the coefficient's "
        "contrast.\n\n"
        + table(["grid", "systems", "coefficient", "max/min", "CG + MG, aggregation", "CG + MG, Galerkin",
                 "CG + MG, Galerkin, ICC(0) smoothing", "CG + ICC"], rows_3d)),
        command="python benchmarks/contrast.py --only-3d")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=16, help="systems per row at 128² (halved per doubling)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384, 512])
    parser.add_argument("--only-3d", action="store_true", help="run the 3-D section alone")
    args = parser.parse_args()
    three_dimensional()
    if args.only_3d:
        return
    rows = []
    for n in args.sizes:
        count = max(4, args.systems * 128 // n)
        for label, recipe_name, overrides in CASES:
            if n > 128 and label not in LARGER.get(n, ()):
                continue
            runs, contrast = compare(recipe_name, [n, n], overrides, count)
            rows.append([f"{n}x{n}", count, label, f"{contrast:.3g}", *cells(runs)])
            print(rows[-1], flush=True)
    write_section("contrast", (
        f"Darcy, CG + multigrid ({variants(2)}) and the reused Cholesky; systems in sample order, "
        f"warm-started, each solved once per solver in a rotating order, maxiter {MAXITER}; per solver the mean "
        "iterations, the median ms per system and the systems that failed to reach rtol (1e-8). `max/min` is the "
        "median over samples of the coefficient's contrast; the 3-D rows are a section of their own "
        "(`contrast_3d`).\n\n"
        + table(["grid", "systems", "coefficient", "max/min", "CG + MG, aggregation", "CG + MG, Galerkin",
                 "CG + MG, Galerkin, ICC(0) smoothing", "reused Cholesky"], rows)))


if __name__ == "__main__":
    main()
