"""Multigrid smoothing for coefficients that jump across sharp interfaces (2-D Darcy,
recipes/darcy_threshold.yaml with `high` = the jump and `low` = 1), and where it overtakes
the reused Cholesky: the numbers behind plan.sharp_jump_mg_options and SHARP_JUMP_DIRECT.

CG + geometric multigrid with Galerkin coarse operators smoothed by one step of
red-black SOR (the planner's sharp-jump choice before), of ICC(1) in C order on every
level, or of ICC(1) with a Chebyshev step on the coarse levels (``sharp_jump_mg_options``,
its choice now: the plain step made the V-cycle indefinite on some samples); aggregation
coarse operators (red-black SOR, one start cycle: its choice below a 100:1 jump); the
reused Cholesky. Each
system (in sample order, warm-started) is solved once per solver in a rotating order,
maxiter 500; per solver the mean iterations, the median ms per system and the systems that
failed to reach rtol 1e-8. The whole comparison runs ``--rounds`` times; the last columns
give the planned multigrid's median time over the Cholesky's and over SOR-smoothed
Galerkin multigrid's, per round.

In 3-D (``--three-d``, its own section: recipes/darcy3d.yaml thresholded, 32³ to 64³, 100:1
and 1000:1) there is no direct solve: CG + ICC (the planner's choice from 1000:1 before),
aggregation multigrid (its choice below 1000:1), and Galerkin multigrid smoothed by ICC(0),
the plain step on every level or a Chebyshev step on the coarse levels (the planner's from
1000:1 and 48³ now); ICC(1)'s fill costs more than it saves there.

With ``--ranks P`` (its own section): whole builds under ``mpiexec -n P`` with
ranks_per_system = P, 2-D, 256² and 512² at 100:1 and 1000:1, where the planner spreads
Galerkin multigrid over the ranks: SOR smoothing (local to each rank; its choice before)
against block Jacobi + ICC(1) with the Chebyshev step on the coarse levels (its choice
now); solve time per sample from the stores, builds in a rotating order.

Usage: python benchmarks/sharp_jumps.py [--rounds 2] [--sizes 128 192 256 320 384 448 512] [--three-d]
       [--ranks P [--samples 6]]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.contrast import MAXITER, cells, compare  # noqa: E402
from benchmarks.distributed_nonsymmetric import median_ms, ratio_cell, rotated_builds  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.plan import mg_variant, sharp_jump_mg_options  # noqa: E402
from solvers.ksp import KSPSolver  # noqa: E402
from solvers.multigrid import GeometricMG, level_shapes  # noqa: E402

JUMPS = (30, 100, 1000, 10000)
JUMP_30_SIZES = (128, 256, 384)  # below the sharp-jump threshold: is aggregation still the choice?
JUMP_1E4_SIZES = (384, 448, 512)  # near the rounding floor: where does the factorisation stay ahead?
PLAIN_ICC1 = {"mg_levels_pc_type": "icc", "mg_levels_pc_factor_levels": 1}  # the same step on every level
SIZES_3D = {32: 8, 48: 4, 64: 4}  # cells per axis: systems
LABELS_3D = {"icc": "CG + ICC(0)", "aggregation": "CG + MG, aggregation, SOR", "icc0": "CG + MG, Galerkin, ICC(0)",
             "planned": "CG + MG, Galerkin, ICC(0), Chebyshev on coarse levels"}
LABELS = {"aggregation": "aggregation, SOR", "sor": "Galerkin, SOR (red-black)", "icc1": "Galerkin, ICC(1)",
          "planned": "Galerkin, ICC(1), Chebyshev on coarse levels", "cholesky": "reused Cholesky"}


def mg(shape, rtol, name, coarse, ordering, cycles, options=None) -> KSPSolver:
    return KSPSolver("cg", "mg", rtol=rtol, maxiter=MAXITER, prefix=f"sharp_{name}_", options=options,
                     multigrid=GeometricMG(shape, coarse=coarse, ordering=ordering, start_cycles=cycles))


def finest_level(shape) -> int:
    """PCMG's number for the finest level of a Galerkin hierarchy on ``shape``."""
    return len(level_shapes(shape, coarse="galerkin")) - 1


def solvers(shape: list[int], rtol: float) -> dict:
    return {"aggregation": mg(shape, rtol, "aggregation", "aggregation", *mg_variant(2, "aggregation")),
            "sor": mg(shape, rtol, "sor", "galerkin", *mg_variant(2, "galerkin")),
            "icc1": mg(shape, rtol, "icc1", "galerkin", "natural", 0, PLAIN_ICC1),
            "planned": mg(shape, rtol, "planned", "galerkin", "natural", 0,
                          sharp_jump_mg_options(finest_level(shape), 2)),
            "cholesky": KSPSolver("preonly", "cholesky", rtol=rtol, prefix="sharp_direct_")}


def two_dimensional(args) -> None:
    rows = []
    for n in args.sizes:
        count = max(4, 2048 // n)
        for jump in JUMPS:
            if (jump < 100 and n not in JUMP_30_SIZES) or (jump > 1000 and n not in JUMP_1E4_SIZES):
                continue
            overrides = [f"parameters.coefficient.high={jump}", "parameters.coefficient.low=1"]
            rounds = [compare("darcy_threshold", [n, n], overrides, count, solvers)[0] for _ in range(args.rounds)]
            last = rounds[-1]
            over = {name: " / ".join(f"{r['planned'].median_ms / r[name].median_ms:.2f}" for r in rounds)
                    for name in ("cholesky", "sor")}
            rows.append([f"{n}x{n}", count, f"{jump}:1", *cells(last), over["cholesky"], over["sor"]])
            print(rows[-1], flush=True)
    write_section("sharp_jumps", (
        "Darcy with a thresholded coefficient (recipes/darcy_threshold.yaml, `low` 1, `high` the jump), CG + "
        "geometric multigrid smoothed by one step of each smoother (aggregation: red-black, one full-multigrid start "
        "cycle; Galerkin + SOR: red-black; Galerkin + ICC(1): C order, a plain step on every level, or a Chebyshev "
        "step on the coarse levels as the planner does), and the reused Cholesky; systems in sample order, "
        f"warm-started, each solved once per solver in a rotating order, maxiter {MAXITER}; per solver the mean "
        "iterations, the median ms per system and the systems that failed to reach rtol (1e-8), from the last of "
        f"{args.rounds} rounds; the ratios are the planned multigrid's median time over the other's, one per round.\n\n"
        + table(["grid", "systems", "jump", *(f"CG + MG, {LABELS[k]}" for k in LABELS if k != "cholesky"),
                 LABELS["cholesky"], "planned MG / Cholesky", "planned MG / SOR MG"], rows)))


def solvers_3d(shape: list[int], rtol: float) -> dict:
    return {"icc": KSPSolver("cg", "icc", rtol=rtol, maxiter=MAXITER, prefix="sharp_icc_"),
            "aggregation": mg(shape, rtol, "aggregation", "aggregation", *mg_variant(3, "aggregation")),
            "icc0": mg(shape, rtol, "icc0", "galerkin", "natural", 0, {"mg_levels_pc_type": "icc"}),
            "planned": mg(shape, rtol, "planned", "galerkin", "natural", 0,
                          sharp_jump_mg_options(finest_level(shape), 3))}


def three_dimensional(rounds_wanted: int) -> None:
    rows = []
    for n, count in SIZES_3D.items():
        for jump in (100, 1000):
            overrides = ["parameters.coefficient.transform=threshold", f"parameters.coefficient.high={jump}",
                         "parameters.coefficient.low=1"]
            rounds = [compare("darcy3d", [n, n, n], overrides, count, solvers_3d)[0] for _ in range(rounds_wanted)]
            over = {name: " / ".join(f"{r['planned'].median_ms / r[name].median_ms:.2f}" for r in rounds)
                    for name in ("icc", "aggregation")}
            rows.append([f"{n}³", count, f"{jump}:1", *cells(rounds[-1]), over["icc"], over["aggregation"]])
            print(rows[-1], flush=True)
    write_section("sharp_jumps_3d", (
        "3-D Darcy with a thresholded coefficient (recipes/darcy3d.yaml, `transform: threshold`, `low` 1, `high` the "
        "jump): CG + ICC(0), and CG + geometric multigrid smoothed by one step (aggregation: red-black, one "
        "full-multigrid start cycle; Galerkin + ICC(0): C order, a plain step on every level, or a Chebyshev step on "
        "the coarse levels as the planner does); systems in sample order, warm-started, each solved once per solver "
        f"in a rotating order, maxiter {MAXITER}; per solver the mean iterations, the median ms per system and the "
        f"systems that failed to reach rtol (1e-8), from the last of {rounds_wanted} rounds; the ratios are the "
        "planned multigrid's median time over the other's, one per round.\n\n"
        + table(["grid", "systems", "jump", *LABELS_3D.values(), "planned MG / CG + ICC", "planned MG / aggregation"],
                rows)), command="python benchmarks/sharp_jumps.py --three-d")


def distributed(args) -> None:
    """Whole builds with ranks_per_system = args.ranks: SOR against the planned smoothing."""
    sor = "solver.options={mg_levels_pc_type: sor, mg_levels_ksp_type: richardson}"  # over the plan's
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (256, 512):
            for jump in (100, 1000):
                coefficient = [f"parameters.coefficient.high={jump}", "parameters.coefficient.low=1"]
                methods = {"sor": ("cg", [*coefficient, sor]), "planned": ("cg", coefficient)}
                runs, ms, its = rotated_builds(methods, n, args, Path(tmp), "darcy_threshold")
                rows.append([f"{n}x{n}", f"{jump}:1", *(f"{median_ms(runs[m], skip=1):.1f} ({its[m]:.1f} its)"
                                                        for m in methods),
                             ratio_cell(runs["planned"], runs["sor"], skip=1)])
                print(rows[-1], flush=True)
    write_section("sharp_jumps_distributed", (
        f"2-D Darcy with a thresholded coefficient (recipes/darcy_threshold.yaml, `low` 1, `high` the jump), "
        f"`mpiexec -n {args.ranks}` with ranks_per_system = {args.ranks}, {args.samples} samples per build, "
        f"{args.repeats} builds per variant in a rotating order: CG + geometric multigrid spread over the ranks "
        "(Galerkin coarse operators, C order) smoothed by SOR (local to each rank) or by block Jacobi + ICC(1) with a "
        "Chebyshev step on the coarse levels (the planner's); solve ms per sample from the stores over the samples "
        "after the first (median over builds), mean iterations, and the ratio planned / SOR (median (range) over "
        "builds).\n\n"
        + table(["grid", "jump", "SOR smoothing", "block Jacobi + ICC(1), planned", "planned / SOR"], rows)),
        command=f"python benchmarks/sharp_jumps.py --ranks {args.ranks}", petsc=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256, 320, 384, 448, 512])
    parser.add_argument("--three-d", action="store_true", help="the 3-D section instead (32³ to 64³)")
    parser.add_argument("--ranks", type=int, help="whole builds over this many ranks per system instead")
    parser.add_argument("--samples", type=int, default=6, help="samples per build (with --ranks)")
    parser.add_argument("--repeats", type=int, default=2, help="builds per variant (with --ranks)")
    args = parser.parse_args()
    if args.ranks:
        return distributed(args)
    if args.three_d:
        return three_dimensional(args.rounds)
    two_dimensional(args)


if __name__ == "__main__":
    main()
