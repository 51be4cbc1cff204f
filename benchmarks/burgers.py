"""The numbers behind the Burgers family (pdegen/families/burgers.py):

1. Convergence against Cole and Hopf's exact periodic solution (ν = 0.02, t = 0.5, Δt = h/8):
   max-norm errors and observed orders of the two fluxes.
2. The explicit step limit: a periodic block (1 on [0.1, 0.4], -0.5 elsewhere, 256 cells,
   t = 0.5) at Courant numbers Δt max|u| / h from 0.2 to 1.2 and ν from 1e-5 to 1e-3:
   the largest new extremum (overshoot above 1 or below -0.5) over the run. What sets
   ``CFL`` = 0.4.
3. recipes/burgers.yaml as built (1024 cells, each sample its own steps and the recipe's
   graded start, samples 0-2): the stored states' error against the same samples on 3x the
   cells (so 3x the steps; each coarse cell centre is a fine one; u₀ interpolated
   spectrally: the GRF is a trigonometric polynomial), and the time error alone against
   the same cells with 8x the steps (Rannacher's start, one grading level more), for the
   recipe's graded start and for uniform steps; relative L2 per stored time, and the worst.
4. Seconds per sample of ``pdegen build`` on the recipe (8 samples, one process) beside
   the same build with uniform steps, and the share of the explicit flux.

Usage: python benchmarks/burgers.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as spla

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values  # noqa: E402
from pdegen.families import burgers as burgers_module  # noqa: E402
from pdegen.families import fv, get_family  # noqa: E402
from pdegen.families.heat import Heat, SolveBySparseLU  # noqa: E402
from pdegen.grid import Grid  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

BURGERS = get_family("burgers")
PERIODIC = {"kind": "periodic", "value": 0.0}


def run(grid, initial, viscosity, t_end, steps, save_every=None, convection="muscl", watch=None):
    """States every ``save_every`` steps (default: the last), one sparse LU for every solve;
    ``watch(u)`` is called after every step."""
    save_every = save_every or steps
    recipe = {"boundary": PERIODIC, "discretization": {"scheme": "crank-nicolson", "t_end": t_end, "steps": steps,
                                                       "save_every": save_every, "convection": convection}}
    values = {"viscosity": viscosity, "initial": initial, "forcing": 0.0}
    system, rhs = BURGERS.stepper(grid, values, recipe)
    lu = spla.splu(system.A.tocsc())
    u = BURGERS.initial_state(grid, values)
    saved = []
    for step in range(1, steps + 1):
        for _ in range(BURGERS.solves_in_step(recipe, step)):
            u = lu.solve(rhs(u, step))
        if watch is not None:
            watch(u)
        if step % save_every == 0:
            saved.append(u)
    return np.array(saved)


def cole_hopf(x, t, nu=0.02, a=1.2):
    decay = np.exp(-4 * np.pi**2 * nu * t)
    return 4 * np.pi * nu * decay * np.sin(2 * np.pi * x) / (a + decay * np.cos(2 * np.pi * x))


def convergence() -> str:
    sizes = (32, 64, 128, 256, 512)
    rows = []
    for convection in ("muscl", "upwind"):
        errors = []
        for n in sizes:
            grid = Grid((n,), ((0.0, 1.0),))
            x = grid.centers[0]
            u = run(grid, cole_hopf(x, 0.0), 0.02, 0.5, 4 * n, convection=convection)[-1]
            errors.append(np.abs(u - cole_hopf(x, 0.5)).max())
        rates = np.log2(np.array(errors[:-1]) / errors[1:])
        rows.append([convection, *[f"{e:.2e}" for e in errors], " / ".join(f"{r:.2f}" for r in rates)])
    return table(["convection", *[f"{n} cells" for n in sizes], "orders"], rows)


def step_limit() -> str:
    n, t_end = 256, 0.5
    grid = Grid((n,), ((0.0, 1.0),))
    x = grid.centers[0]
    initial = np.where((x > 0.1) & (x < 0.4), 1.0, -0.5)
    courants = (0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.2)
    rows = []
    for nu in (1e-5, 1e-4, 1e-3):
        cells = []
        for courant in courants:
            worst = [0.0]

            def watch(u):
                worst[0] = max(worst[0], u.max() - 1.0, -0.5 - u.min())
            run(grid, initial, nu, t_end, int(np.ceil(t_end * n / courant)), watch=watch)
            cells.append(f"{worst[0]:.1e}" if np.isfinite(worst[0]) else "unstable")
        rows.append([f"{nu:g}", *cells])
    return table(["ν", *[f"Courant {c:g}" for c in courants]], rows)


def spectral_resample(u: np.ndarray, n: int) -> np.ndarray:
    """A periodic grid function's trigonometric interpolant at n cell centres (n an odd multiple)."""
    m = u.size
    coefficients = np.fft.rfft(u)
    padded = np.zeros(n // 2 + 1, dtype=complex)
    padded[:coefficients.size] = coefficients
    padded[m // 2] *= 0.5  # the Nyquist mode splits in two on the finer grid
    fine = np.fft.irfft(padded, n) * (n / m)  # at the coarse grid's first centre + j / n
    return np.roll(fine, (n // m - 1) // 2)  # at the fine centres (n / m odd: each coarse centre is one)


def stored_states(grid, values, recipe, factor=1, **changes):
    """One sample's stored states as the build steps it (its own steps, the recipe's graded
    start), with ``factor`` times the steps and ``changes`` to the discretization."""
    own = BURGERS.sample_recipe(grid, values, recipe)
    d = {**own["discretization"], **changes}
    d["steps"], d["save_every"] = factor * d["steps"], factor * d["save_every"]
    trajectory = BURGERS.trajectory(grid, values, {**own, "discretization": d}, SolveBySparseLU())
    return np.array([u for _, u, kept in trajectory if kept])


def recipe_accuracy() -> str:
    data = load_recipe(ROOT / "recipes" / "burgers.yaml").data
    n, t_end = data["grid"]["shape"][0], data["discretization"]["t_end"]
    k = data["discretization"]["start_refinement"]
    grid, fine_grid = Grid((n,), ((0.0, 1.0),)), Grid((3 * n,), ((0.0, 1.0),))
    rows = []
    for sample in range(3):
        values = draw_values(data, BURGERS, sample)
        steps = BURGERS.sample_recipe(grid, values, data)["discretization"]["steps"]
        built = stored_states(grid, values, data)
        uniform = stored_states(grid, values, data, start_refinement=0)
        fine = stored_states(fine_grid, {**values, "initial": spectral_resample(values["initial"], 3 * n)}, data)
        in_time = stored_states(grid, values, data, factor=8, scheme="rannacher", start_refinement=k + 1)
        times = t_end * np.arange(1, len(built) + 1) / len(built)

        def error(states, reference):
            return np.linalg.norm(states - reference, axis=1) / np.linalg.norm(reference, axis=1)
        both, time_only, time_uniform = error(built, fine[:, 1::3]), error(built, in_time), error(uniform, in_time)
        for index in (0, 1, len(times) // 2 - 1, len(times) - 1):
            rows.append([sample, f"{np.abs(values['initial']).max():.2f}", steps, f"{times[index]:.2f}",
                         f"{np.abs(fine[index]).max():.3f}", f"{both[index]:.1e}", f"{time_only[index]:.1e}",
                         f"{time_uniform[index]:.1e}"])
        rows.append([sample, "", "", "worst", "", f"{both.max():.1e}", f"{time_only.max():.1e}",
                     f"{time_uniform.max():.1e}"])
    return table(["sample", "max abs u0", "its steps", "t", "max abs u", "rel. L2 error (3x cells)",
                  f"time error (graded start k = {k})", "time error, uniform steps"], rows)


def build_speed(repeats: int = 3) -> str:
    """Seconds per sample of the recipe's build, and beside it (interleaved, medians of
    ``repeats``) the same build with uniform steps (no graded start)."""
    samples = 8
    seconds = {"graded": [], "uniform": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for label, extra in (("graded", []), ("uniform", ["--set", "discretization.start_refinement=0"])):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pdegen.cli", "build", str(ROOT / "recipes" / "burgers.yaml"),
                                "--samples", str(samples), "-o", f"{tmp}/b.zarr", "-q", "--overwrite", *extra],
                               check=True)
                seconds[label].append((time.perf_counter() - start) / samples)
    graded, uniform = (float(np.median(seconds[label])) for label in ("graded", "uniform"))
    grid = Grid((1024,), ((0.0, 1.0),))
    periodic = {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic")}
    u = np.random.default_rng(0).standard_normal(1024)
    calls = 2000
    start = time.perf_counter()
    for _ in range(calls):
        burgers_module.flux_divergence(u, grid, periodic)
    flux = (time.perf_counter() - start) / calls
    data = load_recipe(ROOT / "recipes" / "burgers.yaml").data
    solves = [Heat.solves_per_sample(BURGERS, BURGERS.sample_recipe(grid, draw_values(data, BURGERS, i), data))
              for i in range(samples)]  # each sample's own, not the planner's typical count
    return (f"`pdegen build recipes/burgers.yaml --samples {samples}` (one process, PETSc Cholesky, each sample its "
            f"own Δt, the recipe's graded start): **{graded:.2f} s per sample** including start-up, against "
            f"{uniform:.2f} s with uniform steps (`--set discretization.start_refinement=0`), "
            f"**{graded / uniform:.2f}x** (medians of {repeats} interleaved runs); {min(solves)}-{max(solves)} solves "
            f"each (2 per step, the graded start's 25% more steps included); the explicit flux takes "
            f"{1e6 * flux:.0f} µs per evaluation on 1024 cells, {np.mean(solves) * flux:.2f} s per sample.")


def main():
    sections = [("Convergence against Cole and Hopf's exact solution (ν = 0.02, t = 0.5, Δt = h/8, max norm)",
                 convergence()),
                ("Largest new extremum of a shock and a fan (jump 1.5) over Courant number Δt max|u| / h "
                 f"(256 cells, t = 0.5); pdegen's limit: {burgers_module.CFL:g}", step_limit()),
                ("recipes/burgers.yaml (1024 cells, ν = 0.1, each sample's own steps) against 3x the cells, and "
                 "against 8x the steps",
                 recipe_accuracy()),
                ("Build speed", build_speed())]
    body = "\n\n".join(f"### {title}\n\n{text}" for title, text in sections)
    print(body)
    write_section("burgers", body, petsc=True)


if __name__ == "__main__":
    main()
