"""How close pdegen's Navier–Stokes data come to a pseudo-spectral solution, on FNO's setting.

recipes/navier_stokes.yaml (ν = 1e-3, FNO's forcing, to t = 50): each sample's ω₀ as the
recipe draws it on 64², solved by pdegen on 64² and, from the same ω₀ (Fourier-interpolated),
on 128², each pseudo-spectrally (the recipe's scheme) and by finite volumes (``scheme:
crank-nicolson``); the reference is an independent pseudo-spectral solution on 128²
from that ω₀ (tests/problems.py: integrating factor, RK4, 2/3 dealiasing, complex FFTs,
Δt 2e-3), itself checked against one on 96². Relative L2 errors at the stored times, on each
pdegen grid (the reference Fourier-resampled to it), and each solution's seconds per sample;
and the 128² solutions stored as 64² block means (``output.coarsen: 2``, as
recipes/navier_stokes_nu1e-4.yaml stores them) against the reference's block means.

FNO's other sets (ν = 1e-4 to t = 30, ν = 1e-5 to t = 20) have finer scales: ``--viscosity
1e-4 --t-end 30 --reference 192 --check 128`` measures the same there (its own section), and
``--viscosity 1e-5 --t-end 20 --reference 384 --check 256 --solutions 64:pseudo-spectral
128:pseudo-spectral 256:pseudo-spectral`` for ν = 1e-5 (recipes/navier_stokes_nu1e-5.yaml);
``--draw 256`` draws ω₀ on 256² as that recipe does (with the GRF's modes beyond 64²'s).

Usage: python benchmarks/navier_stokes.py [--samples 2] [--viscosity NU --t-end T --reference N --check M]
       [--solutions GRID:SCHEME ...] [--draw N] [--section NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.families import get_family  # noqa: E402
from pdegen.families.heat import SolveBySparseLU  # noqa: E402
from pdegen.grid import Grid, block_means  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402
from problems import fourier_resample, vorticity_pseudo_spectral  # noqa: E402

TIMES = [1, 10, 20, 30, 40, 50]
REFERENCE_DT = 2e-3


SOLUTIONS = ("64:pseudo-spectral", "64:crank-nicolson", "128:crank-nicolson", "128:pseudo-spectral")
LABELS = {"pseudo-spectral": "pseudo-spectral", "crank-nicolson": "finite volumes"}


def pdegen_solution(recipe: dict, initial: np.ndarray, values: dict, scheme: str) -> tuple[np.ndarray, float]:
    """The stored states of one sample from ``initial`` on its own grid by ``scheme``, and
    the seconds."""
    family, n = get_family("navier_stokes"), initial.shape[0]
    recipe = {**recipe, "discretization": {**recipe["discretization"], "scheme": scheme}}
    grid = Grid((n, n), recipe["grid"]["extent"])
    solve = SolveBySparseLU()
    start = time.perf_counter()
    states = [u.reshape(n, n) for _, u, stored in
              family.trajectory(grid, {**values, "initial": initial}, recipe, solve) if stored]
    return np.array(states), time.perf_counter() - start


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--viscosity", type=float, help="ν (default: the recipe's, 1e-3)")
    parser.add_argument("--t-end", type=float, help="last time, a whole number (default: the recipe's, 50)")
    parser.add_argument("--reference", type=int, default=128, help="grid of the pseudo-spectral reference")
    parser.add_argument("--check", type=int, default=96, help="grid of the reference's own check")
    parser.add_argument("--solutions", nargs="+", default=SOLUTIONS, metavar="GRID:SCHEME",
                        help=f"pdegen's solutions to measure (default: {' '.join(SOLUTIONS)})")
    parser.add_argument("--draw", type=int, default=64, help="grid ω₀ is drawn on (default 64, the recipe's)")
    parser.add_argument("--section", help="section of docs/benchmarks.md to write (default from ν)")
    args = parser.parse_args()
    solutions = [(int(grid), scheme) for grid, scheme in (s.split(":") for s in args.solutions)]
    overrides = [f"parameters.viscosity.value={args.viscosity}"] if args.viscosity else []
    overrides += [f"grid.shape=[{args.draw},{args.draw}]"]
    if args.t_end:
        overrides += [f"discretization.t_end={args.t_end}", f"discretization.steps={int(args.t_end)}"]
    recipe = load_recipe(ROOT / "recipes/navier_stokes.yaml", overrides).data
    family, grid = get_family("navier_stokes"), grid_of(recipe)
    d = recipe["discretization"]
    stored_times = d["t_end"] / (d["steps"] // d["save_every"]) * np.arange(1, d["steps"] // d["save_every"] + 1)
    times = [t for t in TIMES if t <= d["t_end"]]
    columns = [int(np.argmin(np.abs(stored_times - t))) for t in times]
    nu, amplitude = (recipe["parameters"][k]["value"] for k in ("viscosity", "forcing_amplitude"))
    size, check_size = args.reference, args.check
    rows, converged, seconds = [], [], {solution: [] for solution in solutions}
    for sample in range(args.samples):
        values = draw_values(recipe, family, sample)
        omega0 = np.asarray(values["initial"], dtype=float)
        reference = vorticity_pseudo_spectral(fourier_resample(omega0, size), nu, amplitude, times, REFERENCE_DT)
        check = vorticity_pseudo_spectral(fourier_resample(omega0, check_size), nu, amplitude, times[-1:],
                                          REFERENCE_DT)[0]
        converged.append(relative_l2(check, fourier_resample(reference[-1], check_size)))
        for n, scheme in solutions:
            start = omega0 if n == omega0.shape[0] else fourier_resample(omega0, n)
            states, spent = pdegen_solution(recipe, start, values, scheme)
            seconds[n, scheme].append(spent)
            errors = [relative_l2(states[c], fourier_resample(reference[i], n)) for i, c in enumerate(columns)]
            rows.append([sample, f"{n}², {LABELS[scheme]}", *[f"{e:.2e}" for e in errors], f"{spent:.1f}"])
            print(rows[-1], flush=True)
            if n > 64:  # as `output.coarsen: n / 64` stores it on 64²
                f = n // 64
                means = [relative_l2(block_means(states[c], f, 2), block_means(fourier_resample(reference[i], n), f, 2))
                         for i, c in enumerate(columns)]
                rows.append([sample, f"{n}², {LABELS[scheme]}, stored as 64² block means",
                             *[f"{e:.2e}" for e in means], ""])
    body = (f"recipes/navier_stokes.yaml (ν = {nu:g}, forcing amplitude {amplitude:g}, {grid.shape[0]}² draws of ω₀); "
            f"reference: pseudo-spectral on {size}² (Δt {REFERENCE_DT:g}), which a {check_size}² run matches to "
            f"{max(converged):.1e} at t = {times[-1]}. Relative L2 error of pdegen's stored states against it:\n\n")
    body += table(["sample", "pdegen grid, scheme", *[f"t = {t}" for t in times], "seconds"], rows)
    body += ("\n\nMedian seconds per sample (one core; finite volumes by SciPy LU): " + ", ".join(
        f"{n}² {LABELS[scheme]} {np.median(spent):.1f}" for (n, scheme), spent in seconds.items()) + ".")
    shipped = args.viscosity in (None, 1e-3) and args.t_end in (None, 50.0) and not args.section
    name = args.section or ("navier_stokes" if shipped else "navier_stokes_nu" + f"{nu:.0e}".replace("e-0", "e-"))
    write_section(name, body,
                  command=None if shipped else "python benchmarks/navier_stokes.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
