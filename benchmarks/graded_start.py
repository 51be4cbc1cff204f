"""What a graded start (``discretization.start_refinement``) costs a build, side by side:
uniform steps (k = 0), the graded start as planned (each step matrix factorised once and
kept, solvers.slots), and the graded start refactoring where each interval's Δt starts (as
above pdegen.plan.SLOT_UNKNOWNS). recipes/diffusion_reaction.yaml (k = 2) and
recipes/diffusion_reaction_pdebench.yaml (k = 5) at their 128², one process, median of
round-robin repeats, seconds per sample with assembly and writing. Their accuracy:
docs/benchmarks.md, diffusion_reaction(_pdebench)_time_accuracy. Then the cost of one
refactorisation alone, which a build's times on this shared machine resolve poorly.

Usage: python benchmarks/graded_start.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import pdegen.plan  # noqa: E402
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

CASES = (("diffusion_reaction", 12), ("diffusion_reaction_pdebench", 6))  # recipe, samples


def configurations(k: int):
    """(label, start_refinement, whether the graded start's factorisations are kept)."""
    return (("uniform steps (k=0)", 0, True), (f"graded, k={k}, factorisations kept", k, True),
            (f"graded, k={k}, refactored at each Δt", k, False))


def timed_build(name: str, samples: int, k: int, keep: bool, out: Path) -> tuple[float, int]:
    """Seconds per sample of one build, and the solves per sample."""
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", [f"samples={samples}",
                                                             f"discretization.start_refinement={k}",
                                                             f"output.path={out}"])
    budget = pdegen.plan.SLOT_UNKNOWNS
    pdegen.plan.SLOT_UNKNOWNS = budget if keep else 0
    try:
        started = time.perf_counter()
        build(recipe, overwrite=True, quiet=True)
        seconds = time.perf_counter() - started
    finally:
        pdegen.plan.SLOT_UNKNOWNS = budget
    return seconds / samples, recipe.family.solves_per_sample(recipe.data)


def switch_cost(n: int, repeats: int) -> tuple[float, float]:
    """(ms per solve with the factorisation reused, ms per solve that first refactors) of
    PETSc's Cholesky (KSPSolver preonly) on diffusion_reaction_pdebench's step matrices at
    n², two Δt alternating; medians of ``repeats`` rounds of 10 solves each."""
    from pdegen.build import draw_values, grid_of
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "diffusion_reaction_pdebench.yaml", [f"grid.shape=[{n},{n}]"])
    family, data = recipe.family, recipe.data
    values = draw_values(data, family, 0)
    matrices = [family.stepper(grid_of(data), values, {**data, "discretization": {**data["discretization"],
                                                                                  "steps": steps}})[0].A
                for steps in (400, 800)]
    b = np.ones(matrices[0].shape[0])
    solver = KSPSolver("preonly", "cholesky", rtol=1e-8, prefix="graded_bench_")
    solver.solve(matrices[0], b)
    reused, switched = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(10):
            solver.solve(matrices[0], b)
        reused.append((time.perf_counter() - started) / 10)
        started = time.perf_counter()
        for i in range(10):
            solver.solve(matrices[(i + 1) % 2], b)
        switched.append((time.perf_counter() - started) / 10)
    return 1e3 * float(np.median(reused)), 1e3 * float(np.median(switched))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, samples in CASES:
            k = load_recipe(ROOT / "recipes" / f"{name}.yaml")["discretization"]["start_refinement"]
            times, solves = {}, {}
            for repeat in range(args.repeats):
                for label, refinement, keep in configurations(k):
                    seconds, solves[label] = timed_build(name, samples, refinement, keep, Path(scratch) / "store.zarr")
                    times.setdefault(label, []).append(seconds)
                    print(name, label, f"{seconds:.3f} s/sample", flush=True)
            uniform = np.median(times[configurations(k)[0][0]])
            for label, _, _ in configurations(k):
                median = float(np.median(times[label]))
                rows.append([name, label, solves[label], f"{solves[label] / solves[configurations(k)[0][0]]:.2f}",
                             f"{median:.2f}", f"{median / uniform:.2f}"])
    costs = []
    for n in (128, 256):
        reused, switched = switch_cost(n, 5)
        costs.append([f"{n}x{n}", 2 * n * n, f"{reused:.2f}", f"{switched:.1f}", f"{switched / reused:.0f}"])
        print(costs[-1], flush=True)
    write_section("graded_start", (
        f"recipes/diffusion_reaction.yaml (12 samples) and recipes/diffusion_reaction_pdebench.yaml (6) at 128², "
        f"one process, PETSc Cholesky (the plan), median of {args.repeats} round-robin repeats, seconds per sample "
        "including assembly and writing. `solves ratio` and `time ratio` against uniform steps in the same run. "
        "Kept: one factorisation per step matrix, made at the first sample and reused by every later one "
        "(solvers.slots); refactored: one factorisation in turn, redone where each interval's Δt starts.\n\n"
        + table(["recipe", "steps", "solves/sample", "solves ratio", "s/sample", "time ratio"], rows)
        + "\n\nWhat a refactorisation costs, alone: one solve with PETSc's Cholesky kept, against one that first "
        "refactors (two step matrices of recipes/diffusion_reaction_pdebench.yaml alternating; the symbolic "
        "factorisation is reused), medians of 5 rounds of 10. A graded start with k refinements switches matrices "
        "k + 1 times a sample.\n\n"
        + table(["grid", "unknowns", "ms/solve, reused", "ms/solve after a switch", "ratio"], costs)),
        command="python benchmarks/graded_start.py")


if __name__ == "__main__":
    main()
