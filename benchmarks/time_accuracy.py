"""How far the stored heat trajectories are from the PDE's solution in time: each scheme's
error against the exact solution of the semi-discrete system u' = -L u + b (L the FV
operator on the recipe's grid, diagonalised once per sample), so that only the time
discretisation's error is left.

recipes/heat.yaml (64², a = exp(GRF), a GRF initial state, t = 0.05), its samples 0-2,
every step direct. Schemes: backward Euler, Crank-Nicolson, and Crank-Nicolson with
Rannacher's start (the first step as two backward-Euler half steps with the same matrix,
pdegen's default). A GRF initial state is rough; Crank-Nicolson's amplification of its fast
modes, (1 - Δt λ/2) / (1 + Δt λ/2), tends to -1 for Δt λ large, so they survive the whole
trajectory, flipping sign at every step.

Section `reaction_time_accuracy`: the same question for recipes/allen_cahn.yaml and
recipes/fisher_kpp.yaml (at 64² and 128², samples 0-2), nonlinear, so against the same recipe run
with 32 times the steps (the recipe's own scheme, Crank-Nicolson; its error is about
1/1000 of the rows').

Section `transport_time_accuracy`: likewise for recipes/transport.yaml (its reference with
the recipe's own scheme, Crank-Nicolson, and 32 times the steps).

Section `wave_time_accuracy`: likewise for recipes/wave.yaml.

Section `diffusion_reaction_time_accuracy`: likewise for recipes/diffusion_reaction.yaml (both
components in each state's error), against SciPy's DOP853 at rtol 1e-10 on the same
semi-discrete system (independent of pdegen's schemes, and seconds where 32x the steps take
minutes), with a graded start's rows and the worst stored state's error;
`diffusion_reaction_pdebench_time_accuracy` for
recipes/diffusion_reaction_pdebench.yaml (white-noise initial states), uniform steps against a
graded start and PDEBench's own integrator (SciPy's RK45 at its default tolerances), all
against the same reference; `gray_scott_time_accuracy` for recipes/gray_scott.yaml at 128²,
one sample (its own 256² would take 128,000 solves of 131,072 unknowns per reference;
at 64² its fronts pin to the grid).

Usage: python benchmarks/time_accuracy.py [--only-reaction | --only-transport | --only-wave |
--only-diffusion_reaction | --only-diffusion_reaction_pdebench | --only-gray_scott]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.linalg as sla

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import draw_values, grid_of  # noqa: E402
from pdegen.families import fv, get_family  # noqa: E402
from pdegen.families.boundary import conditions  # noqa: E402
from pdegen.families.heat import SolveBySparseLU  # noqa: E402
from pdegen.fields import typical_value  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

SCHEMES = ("backward-euler", "crank-nicolson", "rannacher")
STEPS = (5, 20, 100)
SAMPLES = 3


def overrides(scheme: str | None) -> list[str]:
    """A row's recipe changes from its label: ``crank-nicolson`` the scheme (with the recipe's
    own start), ``crank-nicolson k=4`` also a graded start with 2^4 times the steps in the
    first stored interval (``k=0``: uniform steps); None: the family's only scheme."""
    if scheme is None:
        return []
    name, *start = scheme.split(" k=")
    return [f"discretization.scheme={name}"] + [f"discretization.start_refinement={k}" for k in start]


def trajectory(recipe, values) -> np.ndarray:
    """The stored states of the recipe's trajectory (a long reference run keeps only
    these), each solve by a sparse LU of its step matrix (one per Δt)."""
    family, data = recipe.family, recipe.data
    return np.array([u for _, u, kept in family.trajectory(grid_of(data), values, data, SolveBySparseLU()) if kept])


def exact_states(recipe, values, times) -> np.ndarray:
    """The semi-discrete solution u(t) = s + Q exp(-Λ t) Q^T (u0 - s), L = Q Λ Q^T, L s = b."""
    data = recipe.data
    grid = grid_of(data)
    L, b = fv.assemble(grid, values["forcing"], diffusion=values["coefficient"],
                       boundary=conditions(data["boundary"], grid.ndim))
    lam, Q = sla.eigh(L.toarray())
    steady = Q @ ((Q.T @ b) / lam)
    start = Q.T @ (recipe.family.initial_state(grid, values) - steady)
    return np.array([steady + Q @ (np.exp(-lam * t) * start) for t in times])


def semi_discrete(recipe, values, times, **options) -> np.ndarray:
    """The states at ``times`` of the semi-discrete system u' = -L u + b + N(u) (the
    family's FV operator and explicit term) integrated by SciPy's ``solve_ivp`` with
    ``options``."""
    from scipy.integrate import solve_ivp
    family, data = recipe.family, recipe.data
    grid = grid_of(data)
    L, b = family.spatial_operator(grid, values, data)
    term = family.explicit_term(grid, values, data)
    solution = solve_ivp(lambda t, y: b - L @ y + term(y), (0.0, times[-1]), family.initial_state(grid, values),
                         t_eval=times, **options)
    return solution.y.T


def pdebench_rk45(recipe, values, times) -> np.ndarray:
    """As PDEBench integrates its diffusion-reaction data: ``solve_ivp``'s defaults (RK45,
    rtol 1e-3, atol 1e-6)."""
    return semi_discrete(recipe, values, times)


def dop853_reference(recipe, values, times) -> np.ndarray:
    """An integrator independent of pdegen's schemes: DOP853 at rtol 1e-10, atol 1e-12
    (about 2 s for a 128² diffusion-reaction sample to t = 5, where 32x the recipe's steps
    take minutes)."""
    return semi_discrete(recipe, values, times, method="DOP853", rtol=1e-10, atol=1e-12)


def trajectory_rows(cases, rate_column, schemes=SCHEMES, factors=(1, 2), samples=SAMPLES,
                    integrators=None, reference=None) -> list[list]:
    """Per (recipe, grid side) in ``cases``, step count and scheme: the median relative L2
    errors of the stored states at the first stored time, the middle one and t_end against
    a 32x finer run (one per sample, shared by the rows); ``rate_column(data, n, steps)``
    the row's own stiffness measure; ``schemes`` None for a family with only one (the
    wave's); ``factors`` the step counts as multiples of the recipe's; ``samples`` how many;
    ``integrators`` {label: f(recipe, values, stored times) -> states} compared the same
    way, one row each (step count "adaptive"); ``reference`` such an f in place of the
    32x finer run. Each row also has the worst error over all stored states (median
    over the samples)."""
    rows = []
    for name, n in cases:
        shape = f"grid.shape=[{n},{n}]"
        base = load_recipe(ROOT / "recipes" / f"{name}.yaml", [shape])
        d = base.data["discretization"]
        drawn = [draw_values(base.data, base.family, sample) for sample in range(samples)]
        stored_times = base.family.output_times(base.data)
        if reference is None:
            finer = [f"discretization.steps={32 * d['steps']}", f"discretization.save_every={32 * d['save_every']}"]
            fine = load_recipe(ROOT / "recipes" / f"{name}.yaml", [shape, *finer])
            references = [trajectory(fine, values) for values in drawn]
        else:
            references = [reference(base, values, stored_times) for values in drawn]
        for steps in (int(f * d["steps"]) for f in factors):
            errors = {scheme: [] for scheme in schemes}
            save_every = d["save_every"] * steps // d["steps"]  # the same stored times
            for values, expected in zip(drawn, references):
                for scheme in schemes:
                    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml",
                                         [shape, f"discretization.steps={steps}",
                                          f"discretization.save_every={save_every}", *overrides(scheme)])
                    stored = trajectory(recipe, values)
                    relative = np.linalg.norm(stored - expected, axis=1) / np.linalg.norm(expected, axis=1)
                    errors[scheme].append([*relative[[0, len(relative) // 2 - 1, -1]], relative.max()])
            for scheme in schemes:
                e = np.median(np.array(errors[scheme]), axis=0)
                (lo, hi), *_ = base.data["grid"]["extent"]
                dt_h2 = d["t_end"] / steps / ((hi - lo) / n) ** 2 * base.family.diffusivity(base.data)
                rows.append([name, f"{n}x{n}", steps, rate_column(base.data, n, steps), f"{dt_h2:.3g}",
                             scheme or "newmark", *(f"{x:.1e}" for x in e)])
                print(rows[-1], flush=True)
        for label, integrate in (integrators or {}).items():
            errors = []
            for values, expected in zip(drawn, references):
                states = integrate(base, values, stored_times)
                relative = np.linalg.norm(states - expected, axis=1) / np.linalg.norm(expected, axis=1)
                errors.append([*relative[[0, len(relative) // 2 - 1, -1]], relative.max()])
            rows.append([name, f"{n}x{n}", "adaptive", "", "", label,
                         *(f"{x:.1e}" for x in np.median(np.array(errors), axis=0))])
            print(rows[-1], flush=True)
    return rows


def reaction_dt(data, n, steps) -> str:
    """ρΔt with the largest rate the recipe draws."""
    rate = data["parameters"]["rate"]
    top = rate["value"] if rate["dist"] == "constant" else rate["high"]
    return f"{top * data['discretization']['t_end'] / steps:.3g}"


def two_species_stiffness(data, n, steps) -> str:
    """Δt times a two-species family's reaction stiffness, as its recipe check bounds it
    (FitzHugh–Nagumo: 3 B² - 1; Gray–Scott: the Jacobian's spectral radius)."""
    stiffness, _ = get_family(data["family"]).reaction_stiffness(data)
    return f"{stiffness * data['discretization']['t_end'] / steps:.3g}"


def courant(data, n, steps) -> str:
    """max|v| Δt / h with the largest Péclet number the recipe draws (max|v| = Pe ε / L)."""
    p = data["parameters"]
    top = p["peclet"]["value"] if p["peclet"]["dist"] == "constant" else p["peclet"]["high"]
    length = max(hi - lo for lo, hi in data["grid"]["extent"])  # square cells: h = length / n
    speed = top * typical_value(p["diffusivity"]) / length
    return f"{speed * data['discretization']['t_end'] / steps * n / length:.3g}"


def wave_courant(data, n, steps) -> str:
    """c Δt / h with the wave speed's median."""
    length = max(hi - lo for lo, hi in data["grid"]["extent"])
    speed = typical_value(data["parameters"]["wavespeed"])
    return f"{speed * data['discretization']['t_end'] / steps * n / length:.3g}"


def main():
    only = [a for a in sys.argv[1:] if a.startswith("--only-")]
    if not only:
        heat_section()
    if not only or "--only-reaction" in only:
        trajectory_section("reaction", (("allen_cahn", 64), ("allen_cahn", 128), ("fisher_kpp", 64),
                                        ("fisher_kpp", 128)), reaction_dt, "ρΔt", (
            f"recipes/allen_cahn.yaml and recipes/fisher_kpp.yaml at 64x64 and 128x128 (theirs), samples 0-"
            f"{SAMPLES - 1}: relative L2 error of the stored states (the recipe's stored times) against the same "
            "recipe run with 32 times its steps, median over the samples, at the first stored time, the middle one "
            "and t_end. `ρΔt` with the largest rate the recipe draws, `Δt a/h²` the diffusion's stiffness. "
            "`crank-nicolson`: the IMEX scheme (a backward-Euler half step predicts the midpoint, where the reaction "
            "is taken; the families' default), `rannacher` the same after two backward-Euler half steps."))
    if not only or "--only-diffusion_reaction" in only:
        trajectory_section("diffusion_reaction", (("diffusion_reaction", 64), ("diffusion_reaction", 128)),
                           two_species_stiffness, "Δt(3B²-1)", (
            f"recipes/diffusion_reaction.yaml at 64x64 and 128x128 (its own), samples 0-{SAMPLES - 1}: relative L2 "
            "error of the stored states (u and v together) against SciPy's DOP853 at rtol 1e-10 on the same "
            "semi-discrete system, median over the samples, at the first stored time, the middle one, t_end and the "
            "worst of all 100. `Δt(3B²-1)` the explicit reaction's stiffness (the recipe check asks <= 1), "
            "`Δt a/h²` with a = D_v, the faster diffusion. `crank-nicolson` is the family's default; `k=K` a graded "
            "start (`start_refinement: K`, the recipe's 2; k=0 uniform steps). Steps: half the recipe's (Δt 0.05, "
            "PDEBench's stored interval), the recipe's and twice."),
            schemes=("crank-nicolson k=0", "crank-nicolson k=2", "crank-nicolson k=3", "rannacher k=0",
                     "backward-euler k=0"),
            factors=(0.5, 1, 2), reference=dop853_reference, worst=True)
    if not only or "--only-diffusion_reaction_pdebench" in only:
        trajectory_section("diffusion_reaction_pdebench", (("diffusion_reaction_pdebench", 128),),
                           two_species_stiffness, "Δt(3B²-1)", (
            f"recipes/diffusion_reaction_pdebench.yaml (PDEBench's white-noise initial states, N(0, 1) in every "
            f"cell) at its 128x128, samples 0-{SAMPLES - 1}: relative L2 error of the stored states (u and v "
            "together) against SciPy's DOP853 at rtol 1e-10 on the same semi-discrete system, median over the "
            "samples, at the first stored time, the middle one, t_end and the worst of all 100. `Δt(3B²-1)` the "
            "explicit reaction's stiffness with B = 5 (the recipe check asks <= 1), `Δt a/h²` with a = D_v. "
            "Steps: the recipe's 400 and 800; `k=K` a graded start (`start_refinement: K`: the first stored "
            "interval with 2^K times the steps, the next 2 with 2^(K-1), the 4 after with 2^(K-2), the 8 after "
            "with 2^(K-3) and so on: Δt growing with t; k=0 uniform steps; the recipe's 5). `pdebench-rk45`: "
            "PDEBench's own integration (SciPy's solve_ivp with its default RK45, rtol 1e-3, atol 1e-6)."),
            schemes=("crank-nicolson k=0", "crank-nicolson k=4", "crank-nicolson k=5", "rannacher k=0",
                     "backward-euler k=0"), factors=(1, 2), reference=dop853_reference,
            integrators={"pdebench-rk45": pdebench_rk45}, worst=True)
    if not only or "--only-gray_scott" in only:
        trajectory_section("gray_scott", (("gray_scott", 128),), two_species_stiffness, "Δt ρ", (
            "recipes/gray_scott.yaml at 128x128 (its own grid is 256x256), sample 0 (a 32x reference of 64,000 "
            "steps took 20 minutes here): relative L2 error of the stored states (u and v together, before "
            "coarsening) against the same recipe run with 32 times its steps, at the first stored time, the middle "
            "one and t_end. `Δt ρ` the explicit reaction's stiffness as the recipe check bounds it (<= 1), `Δt a/h²` "
            "with a = D_u, the faster diffusion."), schemes=("crank-nicolson", "backward-euler"), samples=1)
    if not only or "--only-wave" in only:
        trajectory_section("wave", (("wave", 64), ("wave", 128)), wave_courant, "Courant", (
            f"recipes/wave.yaml at 64x64 and 128x128 (its own), samples 0-{SAMPLES - 1}: relative L2 error of the "
            "stored states against the same recipe run with 32 times its steps, median over the samples, at the "
            "first stored time, the middle one and t_end. `Courant` c Δt / h with c = 1 (the wave speed's median; "
            "it reaches about 1.6), `Δt a/h²` with a = c² = 1 (for the table's shape: Δt c²/h², not the wave's "
            "measure). Newmark's average acceleration, the family's only scheme."), schemes=(None,))
    if not only or "--only-transport" in only:
        trajectory_section("transport", (("transport", 64), ("transport", 128)), courant, "Courant", (
            f"recipes/transport.yaml at 64x64 and 128x128 (its own), samples 0-{SAMPLES - 1}: relative L2 error of "
            "the stored states against the same recipe run with 32 times its steps, median over the samples, at "
            "the first stored time, the middle one and t_end. `Courant` max|v| Δt / h with the largest Péclet "
            "number the recipe draws, `Δt a/h²` with a = ε. `crank-nicolson` is the family's default."))


def trajectory_section(name: str, cases, column, column_name: str, prose: str, schemes=SCHEMES,
                       factors=(1, 2), samples=SAMPLES, integrators=None, reference=None, worst=False) -> None:
    """Section ``<name>_time_accuracy``: :func:`trajectory_rows` under ``prose`` (``worst``:
    with the worst stored state's column)."""
    rows = trajectory_rows(cases, column, schemes, factors, samples, integrators, reference)
    header = ["recipe", "grid", "steps", column_name, "Δt a/h²", "scheme", "error at first stored", "middle", "t_end"]
    if not worst:
        rows = [row[:-1] for row in rows]
    write_section(f"{name}_time_accuracy", prose + "\n\n" + table(header + ["worst"] * worst, rows),
                  command=f"python benchmarks/time_accuracy.py --only-{name}")


def heat_section():
    base = load_recipe(ROOT / "recipes" / "heat.yaml")
    errors = {}  # (scheme, steps) -> per sample [first, fifth, last]
    for sample in range(SAMPLES):
        values = draw_values(base.data, base.family, sample)
        for steps in STEPS:
            times = 0.05 * np.arange(1, steps + 1) / steps
            exact = exact_states(base, values, times)
            for scheme in SCHEMES:
                recipe = load_recipe(ROOT / "recipes" / "heat.yaml",
                                     [f"discretization.steps={steps}", f"discretization.scheme={scheme}"])
                states = trajectory(recipe, values)
                relative = np.linalg.norm(states - exact, axis=1) / np.linalg.norm(exact, axis=1)
                errors.setdefault((scheme, steps), []).append(relative[[0, min(4, steps - 1), -1]])
                print(sample, scheme, steps, relative[[0, min(4, steps - 1), -1]], flush=True)
    grid = base.data["grid"]["shape"]
    h = 1.0 / grid[0]
    rows = []
    for steps in STEPS:
        for scheme in SCHEMES:
            e = np.median(np.array(errors[(scheme, steps)]), axis=0)
            rows.append([steps, f"{0.05 / steps / h**2:.3g}", scheme, *(f"{x:.1e}" for x in e)])
    write_section("time_accuracy", (
        f"recipes/heat.yaml ({grid[0]}x{grid[1]}, t_end 0.05, a = exp(GRF), initial state a GRF), samples 0-"
        f"{SAMPLES - 1}: relative L2 error of the stored states against the exact solution of the semi-discrete "
        "system (the time discretisation's error alone), median over the samples, at the first stored time "
        "(t = Δt), the fifth (t = 5Δt) and t_end. `rannacher`: Crank-Nicolson after two backward-Euler half "
        "steps (pdegen's default).\n\n"
        + table(["steps", "Δt/h²", "scheme", "error at Δt", "at 5Δt", "at t_end"], rows)))


if __name__ == "__main__":
    main()
