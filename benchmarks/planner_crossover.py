"""Where a sparse direct solve stops beating the iterative alternatives on 2-D Darcy
(a = exp(GRF), and the 12/3 thresholded field of recipes/darcy_threshold.yaml), and where
geometric multigrid overtakes CG + ICC in 3-D: the planner's DIRECT_MAX_UNKNOWNS_2D / MG
rules, all as pdegen runs them (one matrix updated in place; direct = Cholesky with its
symbolic factorisation reused; CG with warm starts, preconditioned by GAMG or by geometric
multigrid, set up for each sample), assembly included. 24 samples per 2-D size, 8 in 3-D;
the methods of one size take turns, three rounds in a rotating order, median of the rounds.
A section of its own covers 1-D grids (the planner's DIRECT_MAX_UNKNOWNS_1D), at rtol 1e-5:
from about 30,000 cells on, 1e-8 is below the rounding floor of double precision there;
another, cells longer along one axis than the other: multigrid halving every axis (SOR
smoothing weakens as the cells stretch) against the semi-coarsened hierarchy the planner
uses (solvers.multigrid halves the short axis first); a third, the 3-D rows.

Usage: python benchmarks/planner_crossover.py [--only-1d] [--only-aspect] [--only-3d]
       (the --only flags combine: --only-1d --only-3d runs those two sections and no other)
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.bench import rotated, run_bench  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from solvers.multigrid import level_shapes  # noqa: E402

SIZES = (64, 96, 128, 160, 192, 224, 256)
SIZES_3D = (20, 24, 32, 48)  # 16³ coarsens once only with aggregation
SIZES_THRESHOLD = (64, 96, 128)
SIZES_1D = (16384, 65536, 262144)
METHODS_1D = {name: ["grid.extent=[[0,1]]", "solver.rtol=1e-5", *settings]
              for name, settings in (("direct", ["solver.method=direct"]),
                                     ("cg+gamg", ["solver.method=cg", "solver.preconditioner=gamg"]))}
METHODS_3D = {"CG+ICC": ["solver.method=cg", "solver.preconditioner=icc"],
              "CG+MG": ["solver.method=cg", "solver.preconditioner=mg"]}
METHODS = {"direct": ["solver.method=direct"],
           "cg+gamg": ["solver.method=cg", "solver.preconditioner=gamg"],
           "cg+mg": ["solver.method=cg", "solver.preconditioner=mg"]}


INTRO = ("2-D Darcy (recipes/darcy.yaml), 24 samples per size; the methods of a size take turns over three "
         "rounds in a rotating order, median of the rounds; assembly included.\n\n")


def timed(recipe_file: str, shape: list[int], samples: int, methods: dict, rounds: int = 3,
          failures_allowed: bool = False, context=None) -> dict:
    """{method: (ms/sample, iterations, failures, later ms/sample)} of `auto` for the recipe with each
    method's settings, the methods interleaved round by round (this VM drifts), median over
    the rounds. Failed samples stop the run unless ``failures_allowed``; ``context(name)``,
    if given, is a context manager each method's runs happen in."""
    recipes = {name: load_recipe(ROOT / "recipes" / recipe_file, [f"samples={samples}", f"grid.shape={shape}",
                                                                   *settings])
               for name, settings in methods.items()}
    times, iterations, failures = {name: [] for name in recipes}, {}, dict.fromkeys(recipes, 0)
    later = {name: [] for name in recipes}  # the samples after the first
    for round_ in range(rounds):
        for name in rotated(list(recipes), round_):
            with context(name) if context else nullcontext():
                result = run_bench(recipes[name], names=["auto"], repeats=1)["results"][0]
            assert failures_allowed or result["failures"] == 0, (recipe_file, shape, name, result)
            times[name].append(result["ms_per_sample"])
            later[name].append(result["later_ms_per_sample"])
            iterations[name] = result["iterations"]
            failures[name] = max(failures[name], result["failures"])
    return {name: (float(np.median(times[name])), iterations[name], failures[name], float(np.median(later[name])))
            for name in recipes}


def row(label, unknowns, times: dict, methods) -> list:
    solved = {k: v for k, v in times.items() if not v[2]} or times
    best = min(solved, key=lambda k: solved[k][0])
    cells = [(f"{times[k][0]:.1f} ({times[k][1]:.1f} its" + (f", {times[k][2]} of the samples failed)" if times[k][2]
                                                              else ")")) if k in times else "-" for k in methods]
    print([label, unknowns, *cells, best], flush=True)
    return [label, unknowns, *cells, best]


def one_dimensional() -> None:
    rows = [row(f"{n}", n, timed("darcy.yaml", [n], 8, METHODS_1D, failures_allowed=True), METHODS_1D)
            for n in SIZES_1D]
    write_section("planner_crossover_1d", (
        "1-D Darcy (recipes/darcy.yaml on [0, 1]), 8 samples per size, rtol 1e-5; the methods take turns over "
        "three rounds in a rotating order, median of the rounds; assembly included.\n\n"
        + table(["cells", "unknowns", "direct ms/sample", "CG+GAMG ms/sample", "fastest"], rows)),
        command="python benchmarks/planner_crossover.py --only-1d")


ASPECTS = (1, 2, 4, 8, 16, 64)
ASPECT_METHODS = {**METHODS, "cg+mg, every axis halved": METHODS["cg+mg"]}


@contextmanager
def plans_changed(change, active: bool = True):
    """While active, every plan `pdegen bench` makes goes through ``change(plan)`` first
    (a variant of the planner's choice, timed by the same code path)."""
    import pdegen.bench
    original = pdegen.bench.make_plan

    def changed(recipe):
        plan = original(recipe)
        change(plan)
        return plan
    pdegen.bench.make_plan = changed if active else original
    try:
        yield
    finally:
        pdegen.bench.make_plan = original


def every_axis_halved(active: bool):
    """While active, plans forget the cell sizes, so geometric multigrid halves every axis
    together (the hierarchy before semi-coarsening)."""
    return plans_changed(lambda plan: setattr(plan, "grid_spacing", []), active)


def cell_aspect() -> None:
    """Cells of aspect ratio r: the domain [0, r] x [0, 1], at 128² and 256²."""
    rows = []
    for n, samples in ((128, 16), (256, 8)):
        rows += [row(f"{r}:1", f"{n}²", timed("darcy.yaml", [n, n], samples, {
            name: [f"grid.extent=[[0,{r}],[0,1]]", *settings] for name, settings in ASPECT_METHODS.items()},
            context=lambda name: every_axis_halved("every axis" in name)), ASPECT_METHODS) for r in ASPECTS]
    write_section("planner_crossover_aspect", (
        "2-D Darcy (recipes/darcy.yaml) on n x n cells of aspect ratio r (domain [0, r] x [0, 1]), 16 samples "
        "at 128², 8 at 256²; the methods take turns over three rounds in a rotating order, median of the rounds; "
        "assembly included. CG+MG is the planner's hierarchy (the short axis halved first); the last column "
        "halves every axis together.\n\n"
        + table(["cell aspect", "grid", "direct ms/sample", "CG+GAMG ms/sample", "CG+MG ms/sample",
                 "CG+MG, every axis halved", "fastest"], rows)),
        command="python benchmarks/planner_crossover.py --only-aspect")


def three_dimensional() -> None:
    rows = []
    for n in SIZES_3D:
        times = timed("darcy3d.yaml", [n, n, n], 8, METHODS_3D)
        ratio = times["CG+MG"][3] / times["CG+ICC"][3]
        rows.append([*row(f"{n}³", n**3, times, METHODS_3D), f"{ratio:.2f}x"])
    write_section("planner_crossover_3d", (
        "3-D Darcy (recipes/darcy3d.yaml), 8 samples per size; CG + incomplete Cholesky against CG + geometric "
        "multigrid as the planner builds it in 3-D (aggregation coarse operators, red-black numbering, one start "
        "cycle; coarsest grid at most 512 cells); the methods take turns over three rounds in a rotating order, "
        "median of the rounds; assembly included. The last column: the time of CG+MG over CG+ICC's on the samples "
        "after the first (which carries the set-up a long build pays once).\n\n"
        + table(["grid", "unknowns", *(f"{k} ms/sample" for k in METHODS_3D), "fastest", "MG / ICC (later)"],
                rows)),
        command="python benchmarks/planner_crossover.py --only-3d")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only-1d", action="store_true", help="run the 1-D section alone")
    parser.add_argument("--only-aspect", action="store_true", help="run the cell aspect section alone")
    parser.add_argument("--only-3d", action="store_true", help="run the 3-D section alone")
    args = parser.parse_args()
    alone = [flag for flag in ("1d", "aspect", "3d") if getattr(args, f"only_{flag}")]
    if not alone or "1d" in alone:
        one_dimensional()
    if not alone or "aspect" in alone:
        cell_aspect()
    if not alone or "3d" in alone:
        three_dimensional()
    if alone:
        return
    rows = []
    for n in SIZES:
        methods = {k: v for k, v in METHODS.items() if k != "cg+mg" or len(level_shapes((n, n))) >= 3}
        rows.append(row(f"{n}x{n}", n * n, timed("darcy.yaml", [n, n], 24, methods), METHODS))
    rows_threshold = [row(f"{n}x{n}", n * n, timed("darcy_threshold.yaml", [n, n], 24, METHODS), METHODS)
                      for n in SIZES_THRESHOLD]
    header = ["grid", "unknowns", "direct ms/sample", "CG+GAMG ms/sample", "CG+MG ms/sample", "fastest"]
    write_section("planner_crossover", INTRO + table(header, rows)
                  + "\n\nThresholded coefficient (recipes/darcy_threshold.yaml: 12 or 3, a 4:1 jump):\n\n"
                  + table(header, rows_threshold))


if __name__ == "__main__":
    main()
