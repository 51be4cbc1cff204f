"""GMRES + geometric multigrid on nonsymmetric convection-diffusion (recipes/advection_diffusion.yaml):
the planner's MG_MIN_UNKNOWNS_NONSYMMETRIC and MG_MAX_PECLET.

GMRES(40) right-preconditioned by one V-cycle of solvers.multigrid as the planner builds it for
nonsymmetric systems (Galerkin coarse operators P^T A P, one ILU(0) smoothing step in C order,
the coarsest level factorised), set up for each sample, warm start, against the sparse LU with
its symbolic factorisation reused, both as pdegen runs them (one matrix updated in place,
assembly included). Three tables:

- sizes: the two methods take turns in a rotating order (three rounds up to 256², one above),
  median of the rounds, Péclet numbers as the recipe draws them (uniform 10-100);
- Péclet: multigrid alone at 128² and 256² with the Péclet number fixed, upwind and central
  convection, maxiter 200 and no fallback, so a failure shows as one; beside it the SPD
  default smoother (red-black SOR, symmetric sweeps), which is what breaks down;
- large grids: multigrid alone at 512² and 1024², Péclet 1000 (the planner's bound) and 3000;
- beyond Péclet 1000: GMRES + GAMG (PETSc's algebraic multigrid, its levels smoothed by one
  Richardson step of block Jacobi + ILU(0), as the planner sets it up for nonsymmetric
  families) against the LU at Péclet 1000-10,000, and GAMG alone over Péclet numbers;
- stream: multigrid at 256², Péclet 100, over the stream function's smoothness (alpha) and
  length scale (tau).

With ``--fallback`` it times the candidates for the build's Krylov fallback on a nonsymmetric
family instead (a fresh GMRES(100) from zero, what a failed sample is retried with): ASM
against GAMG with the same ILU(0) smoothing, at 256², one system per case, maxiter 3000.

Usage: python benchmarks/nonsymmetric_multigrid.py [--quick | --fallback]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.planner_crossover import plans_changed, row, timed  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402

RECIPE = "advection_diffusion.yaml"
METHODS = {"direct": ["solver.method=direct"],
           "gmres+mg": ["solver.method=gmres", "solver.preconditioner=mg"]}
# (grid side, samples, rounds)
SIZES = ((64, 16, 3), (96, 16, 3), (128, 16, 3), (256, 8, 3), (512, 2, 1), (768, 1, 1), (1024, 1, 1))
PECLETS = (25, 50, 100, 150, 200, 400, 1000)
LARGE = ((512, (1000, 3000)), (1024, (1000, 3000)))
STREAMS = ((2.5, 5.0), (3.5, 5.0), (4.5, 5.0), (3.5, 2.0), (3.5, 10.0))
STRICT = ["solver.maxiter=200", "solver.fallback=false"]
AMG_METHODS = {"direct": ["solver.method=direct"],
               "gmres+gamg": ["solver.method=gmres", "solver.preconditioner=gamg"]}
AMG_SIZES = ((128, 8, 3), (256, 4, 3), (384, 3, 2), (512, 2, 1), (1024, 1, 1))
HIGH_PECLET = "parameters.peclet={dist: uniform, low: 1000, high: 10000}"
AMG_PECLETS = (100, 1000, 3000, 10000, 30000)
# PETSc's own smoothing for GAMG's levels (Chebyshev on Jacobi, two steps), for comparison
GAMG_DEFAULT_SMOOTHING = ("solver.options={mg_levels_ksp_type: chebyshev, mg_levels_ksp_max_it: 2, "
                          "mg_levels_pc_type: jacobi}")


def sizes(plan) -> list:
    rows = []
    for n, samples, rounds in plan:
        times = timed(RECIPE, [n, n], samples, METHODS, rounds)
        ratio = times["gmres+mg"][0] / times["direct"][0]
        rows.append(row(f"{n}x{n}", n * n, times, METHODS) + [f"{ratio:.2f}x", samples, rounds])
    return rows


def amg_sizes() -> list:
    rows = []
    for n, samples, rounds in AMG_SIZES:
        methods = {name: [*settings, HIGH_PECLET] for name, settings in AMG_METHODS.items()}
        times = timed(RECIPE, [n, n], samples, methods, rounds)
        ratio = times["gmres+gamg"][0] / times["direct"][0]
        rows.append(row(f"{n}x{n}", n * n, times, methods) + [f"{ratio:.2f}x", samples, rounds])
    return rows


def amg_peclet_rows(n: int, samples: int) -> list:
    rows = []
    for pe in AMG_PECLETS:
        cells = []
        for scheme, extra in (("upwind", []), ("central", []), ("upwind", [GAMG_DEFAULT_SMOOTHING])):
            settings = [*AMG_METHODS["gmres+gamg"], *STRICT, f"parameters.peclet={{dist: constant, value: {pe}}}",
                        f"discretization.convection={scheme}", *extra]
            cells.append(cell(timed(RECIPE, [n, n], samples, {"amg": settings}, 1, failures_allowed=True)["amg"]))
        rows.append([pe, *cells])
        print(rows[-1], flush=True)
    return rows


def smooth_with_sor(plan) -> None:
    """Smooth as the SPD plans do: red-black SOR instead of ILU(0)."""
    plan.multigrid_ordering = "red-black"
    plan.options = {k: v for k, v in plan.options.items() if not k.startswith("mg_levels_pc")}


def multigrid_only(n: int, samples: int, settings: list, smoother: str = "ilu"):
    """(ms/sample, iterations, failures) of GMRES + MG with ``settings``; ``smoother`` "ilu"
    (the plan's) or "sor" (red-black SOR)."""
    result = timed(RECIPE, [n, n], samples, {"mg": [*METHODS["gmres+mg"], *STRICT, *settings]}, rounds=1,
                   failures_allowed=True, context=lambda name: plans_changed(smooth_with_sor, smoother == "sor"))
    return result["mg"]


def cell(result) -> str:
    ms, iterations, failures = result
    return f"{iterations:.1f} its, {ms:.1f} ms" + (f", **{failures} failed**" if failures else "")


# (grid side, convection, smoother) columns of the Péclet table
PECLET_COLUMNS = [(n, scheme, smoother) for n in (128, 256) for scheme in ("upwind", "central")
                  for smoother in ("ilu", "sor")]


def peclet_rows(columns, samples: int) -> list:
    rows = []
    for pe in PECLETS:
        cells = []
        for n, scheme, smoother in columns:
            settings = [f"parameters.peclet={{dist: constant, value: {pe}}}", f"discretization.convection={scheme}"]
            cells.append(cell(multigrid_only(n, samples, settings, smoother)))
        rows.append([pe, *cells])
        print(rows[-1], flush=True)
    return rows


def large_rows(samples: int) -> list:
    rows = []
    for n, peclets in LARGE:
        cells = [cell(multigrid_only(n, samples, [f"parameters.peclet={{dist: constant, value: {pe}}}"]))
                 for pe in peclets]
        rows.append([f"{n}x{n}", *cells])
        print(rows[-1], flush=True)
    return rows


def stream_rows(n: int, samples: int) -> list:
    rows = []
    for alpha, tau in STREAMS:
        settings = ["parameters.peclet={dist: constant, value: 100}",
                    f"parameters.stream={{dist: grf, alpha: {alpha}, tau: {tau}, transform: none}}"]
        rows.append([alpha, tau, cell(multigrid_only(n, samples, settings))])
        print(rows[-1], flush=True)
    return rows


FALLBACK_CASES = ((100, "upwind"), (3000, "upwind"), (3000, "central"))


def fallback(n: int = 256, samples: int = 2) -> None:
    """GMRES(100) + ASM against GMRES(100) + GAMG (ILU(0) smoothing), from zero, per case."""
    from pdegen.build import draw_values, grid_of
    from pdegen.plan import NONSYMMETRIC_AMG_OPTIONS
    from pdegen.recipe import load_recipe
    from solvers.ksp import KSPSolver
    rows = []
    for pe, scheme in FALLBACK_CASES:
        recipe = load_recipe(ROOT / "recipes" / RECIPE, [f"grid.shape=[{n},{n}]", f"discretization.convection={scheme}",
                                                         f"parameters.peclet={{dist: constant, value: {pe}}}"])
        grid = grid_of(recipe.data)
        systems = [recipe.family.system(grid, draw_values(recipe.data, recipe.family, i), recipe.data)
                   for i in range(samples)]
        cells = []
        for pc, options in (("asm", {}), ("gamg", NONSYMMETRIC_AMG_OPTIONS)):
            solver = KSPSolver("gmres", pc, rtol=1e-8, maxiter=3000, prefix=f"fallback_{pc}_{pe}_{scheme}_",
                               options={"ksp_gmres_restart": 100, **options})
            infos = [solver.solve(system.A, system.b)[1] for system in systems]
            cells.append(" / ".join(f"{info.iterations} its{'' if info.converged else ' (failed)'}, "
                                   f"{1e3 * info.seconds:.0f} ms" for info in infos))
        rows.append([pe, scheme, *cells])
        print(rows[-1], flush=True)
    write_section("nonsymmetric_fallback", (
        f"2-D advection-diffusion at {n}², {samples} samples per case, the Péclet number fixed: a fresh GMRES(100) "
        "from zero (the build's Krylov fallback) with ASM (PETSc's default overlap) or with GAMG whose levels take "
        "one Richardson step of block Jacobi + ILU(0); maxiter 3000.\n\n"
        + table(["Péclet", "convection", "GMRES(100) + ASM", "GMRES(100) + GAMG (ILU(0) smoothing)"], rows)),
        command="python benchmarks/nonsymmetric_multigrid.py --fallback")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64² to 256² only, fewer samples; no docs update")
    parser.add_argument("--fallback", action="store_true", help="time the Krylov fallback's candidates only")
    args = parser.parse_args()
    if args.fallback:
        fallback()
        return
    plan = SIZES[:4] if args.quick else SIZES
    columns = [c for c in PECLET_COLUMNS if c[0] == 128] if args.quick else PECLET_COLUMNS
    samples = 4 if args.quick else 8
    size_table = sizes(plan)
    peclet_table = peclet_rows(columns, samples)
    large_table = [] if args.quick else large_rows(2)
    amg_table = amg_sizes()[: 2 if args.quick else None]
    amg_peclet_table = amg_peclet_rows(256, samples)
    stream_table = stream_rows(columns[-1][0], samples)
    if args.quick:
        return
    header = ["grid", "unknowns", *(f"{k} ms/sample" for k in METHODS), "fastest", "MG / LU time", "samples",
              "rounds"]
    peclet_header = ["Péclet", *(f"{n}², {scheme}, {'ILU(0)' if smoother == 'ilu' else 'red-black SOR'}"
                                 for n, scheme, smoother in columns)]
    write_section("nonsymmetric_multigrid", (
        "2-D advection-diffusion (recipes/advection_diffusion.yaml). GMRES(40) + geometric multigrid (one V-cycle: "
        "Galerkin coarse operators, one ILU(0) smoothing step in C order, the coarsest level factorised; set up per "
        "sample, warm start) "
        "against the sparse LU with its symbolic factorisation reused; assembly included; iterations per sample in "
        "brackets.\n\n### Sizes (Péclet number uniform 10-100, as the recipe draws it)\n\n" + table(header, size_table)
        + f"\n\n### Péclet number fixed (multigrid alone, {samples} samples, maxiter 200, no fallback; red-black "
        "SOR is the smoother of the SPD plans)\n\n"
        + table(peclet_header, peclet_table)
        + "\n\n### Large grids (multigrid alone, upwind, 2 samples, maxiter 200, no fallback)\n\n"
        + table(["grid", *(f"Péclet {pe}" for pe in LARGE[0][1])], large_table)
        + "\n\n### Beyond Péclet 1000: GMRES + GAMG against the LU (Péclet uniform 1000-10,000, upwind)\n\n"
        + table(["grid", "unknowns", *(f"{k} ms/sample" for k in AMG_METHODS), "fastest", "GAMG / LU time",
                 "samples", "rounds"], amg_table)
        + f"\n\n### GMRES + GAMG over Péclet numbers (256², {samples} samples, maxiter 200, no fallback)\n\n"
        + table(["Péclet", "upwind", "central", "upwind, GAMG's default smoothing (Chebyshev/Jacobi)"],
                amg_peclet_table)
        + f"\n\n### Stream function (multigrid alone, {columns[-1][0]}², Péclet 100, upwind, {samples} samples)\n\n"
        + table(["alpha", "tau", "GMRES + MG"], stream_table)), petsc=False)


if __name__ == "__main__":
    main()
