"""`pdegen bench` on every recipe in recipes/ at a reduced size (64x64, 24³ in 3-D, 256 in 1-D),
16 samples, maxiter 2000 (a stalling strategy shows up as failures, not as a hang),
median of 3 round-robin repeats. Records the winning strategy per family. A recipe whose
scheme solves no linear systems (navier_stokes, pseudo-spectral) is benched with its
finite-volume scheme (Crank–Nicolson), once per family.

Usage: python benchmarks/families_bench.py [--samples 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import write_section  # noqa: E402
from pdegen.bench import format_table, nothing_to_compare, run_bench  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

# When the plan is a direct solve, `auto` and `direct-reuse` run the same PETSc
# configuration; the table should not be read as one beating the other.
SAME_CONFIGURATION = ("Where auto's plan is a direct solve it runs exactly the `direct-reuse` configuration (one "
                      "matrix updated in place, the symbolic factorisation reused), except after a graded start "
                      "(`start_refinement`: the diffusion_reaction recipes), where auto keeps one factorisation per "
                      "step matrix and direct-reuse refactors at each change of Δt (burgers' Δt is each sample's own: "
                      "both refactor); otherwise the gap between the "
                      "two rows "
                      "is noise, mostly the first sample's symbolic factorisation (first-sample column) landing "
                      "on a busy or a quiet moment of this shared VM: compare the later-samples column.")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sections, winners, by_finite_volumes = [], [], set()
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        as_written = load_recipe(path)
        shape = {1: "[256]", 2: "[64,64]", 3: "[24,24,24]"}[len(as_written["grid"]["shape"])]
        overrides, label = [f"samples={args.samples}", f"grid.shape={shape}", "solver.maxiter=2000"], path.stem
        recipe = load_recipe(path, overrides)
        if nothing_to_compare(recipe) is not None:  # navier_stokes, pseudo-spectral by default
            if as_written["family"] in by_finite_volumes:
                continue  # navier_stokes_nu1e-4 and _nu1e-5: their finite-volume systems are navier_stokes' kind
            by_finite_volumes.add(as_written["family"])
            overrides, label = [*overrides, "discretization.scheme=crank-nicolson"], f"{path.stem} (finite volumes)"
            recipe = load_recipe(path, overrides)
        report = run_bench(recipe, repeats=args.repeats)
        table = format_table(report)
        print(table, flush=True)
        sections.append("### " + table)
        ok = [r for r in report["results"] if r["failures"] == 0]
        best = min(ok, key=lambda r: r["ms_per_sample"])
        auto = next(r for r in report["results"] if r["name"] == "auto")
        winners.append(f"| {label} | {best['name']} | {best['ms_per_sample']:.2f} | {auto['ms_per_sample']:.2f} | "
                       f"{report['plan']['method']} + {report['plan']['preconditioner']} |")
    summary = ("| recipe | fastest strategy | its ms/sample | auto ms/sample | auto's plan |\n"
               "|---|---|---|---|---|\n" + "\n".join(winners))
    write_section("families_bench", f"{args.samples} samples per recipe at 64x64 (24³ in 3-D, 256 cells in 1-D), "
                  "maxiter 2000, "
                  f"median of {args.repeats}; times include assembly. {SAME_CONFIGURATION}\n\n" + summary + "\n\n"
                  + "\n\n".join(sections))


if __name__ == "__main__":
    main()
