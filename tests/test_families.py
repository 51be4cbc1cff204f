"""Every family against a manufactured solution: observed orders over three refinements."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from conftest import needs_petsc
from pdegen.families import fv, get_family
from pdegen.families.boundary import conditions as boundary_conditions
from pdegen.families.heat import Heat
from pdegen.grid import Grid

PI = np.pi


def orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


def solve(A, b):
    return spla.spsolve(A.tocsc(), b)


def exact_2d(n):
    grid = Grid((n, n), ((0.0, 1.0), (0.0, 1.0)))
    return grid, grid.mesh()


def test_poisson_with_nonzero_dirichlet_data_second_order():
    # u = sin(πx) sin(πy) + x² - y + 1: g = u on the boundary, f = 2π² sin sin - 2.
    def u(x, y):
        return np.sin(PI * x) * np.sin(PI * y) + x**2 - y + 1.0
    errors = []
    for n in (16, 32, 64, 128):
        grid, (X, Y) = exact_2d(n)
        f = 2 * PI**2 * np.sin(PI * X) * np.sin(PI * Y) - 2.0
        A, b = fv.assemble(grid, f, diffusion=1.0, boundary=fv.Boundary("dirichlet", lambda ax, s, c: u(*c)))
        errors.append(np.abs(solve(A, b) - u(X, Y).ravel()).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


def test_poisson_family_fourier_boundary_is_continuous_and_matches_series():
    from pdegen.families.poisson import boundary_function
    grid = Grid((40, 20), ((0.0, 2.0), (0.0, 1.0)))
    coefficients = np.array([0.3, 1.0, -0.5, 0.25, 0.7])  # c0, a1, a2, b1, b2
    g = boundary_function(grid, coefficients)
    # Perimeter coordinate at the four corners (approached along two sides) agrees.
    s = [fv.perimeter_coordinate(grid, axis, side, centres)
         for axis, side, centres in ((1, 0, (np.array(2.0), np.array(0.0))), (0, 1, (np.array(2.0), np.array(0.0))),
                                     (0, 1, (np.array(2.0), np.array(1.0))), (1, 1, (np.array(2.0), np.array(1.0))),
                                     (1, 1, (np.array(0.0), np.array(1.0))), (0, 0, (np.array(0.0), np.array(1.0))))]
    assert np.allclose(s, [1 / 3, 1 / 3, 0.5, 0.5, 5 / 6, 5 / 6])
    bottom = g(1, 0, fv.face_centres(grid, 1, 0)).ravel()
    x = grid.centers[0]
    expected = 0.3 + np.cos(2 * PI * x / 6) - 0.5 * np.cos(4 * PI * x / 6) + 0.25 * np.sin(2 * PI * x / 6) \
        + 0.7 * np.sin(4 * PI * x / 6)
    assert np.allclose(bottom, expected)


@pytest.mark.parametrize("k", [3.0, 12.0])  # k² below and above the first eigenvalue 2π² ≈ 19.7
def test_helmholtz_dirichlet_second_order(k):
    errors = []
    for n in (32, 64, 128, 256):  # k h <= 0.4: past the pre-asymptotic (pollution) range
        grid, (X, Y) = exact_2d(n)
        u = np.sin(PI * X) * np.sin(PI * Y)
        a = 1 + 0.3 * np.sin(2 * PI * X) * np.cos(2 * PI * Y)
        ax = 0.6 * PI * np.cos(2 * PI * X) * np.cos(2 * PI * Y)
        ay = -0.6 * PI * np.sin(2 * PI * X) * np.sin(2 * PI * Y)
        ux, uy = PI * np.cos(PI * X) * np.sin(PI * Y), PI * np.sin(PI * X) * np.cos(PI * Y)
        f = -(ax * ux + ay * uy) + 2 * PI**2 * a * u - k**2 * u
        values = {"coefficient": a, "wavespeed": 1.0, "frequency": k, "forcing": f}
        system = get_family("helmholtz").assemble(grid, values, {"kind": "dirichlet"})
        errors.append(np.abs(solve(system.A, system.b) - u.ravel()).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


def test_robin_boundary_second_order():
    # -Δu - k²u = f with a ∂u/∂n + β u = g on all sides, u = cos(πx) e^y (not zero on the boundary).
    k, beta = 5.0, 5.0
    def u(x, y):
        return np.cos(PI * x) * np.exp(y)

    def g(axis, side, centres):
        x, y = centres
        if axis == 0:
            dudn = -PI * np.sin(PI * x) * np.exp(y) * (1 if side == 1 else -1)
        else:
            dudn = u(x, y) * (1 if side == 1 else -1)
        return dudn + beta * u(x, y)
    errors = []
    for n in (16, 32, 64, 128):
        grid, (X, Y) = exact_2d(n)
        f = (PI**2 - 1.0) * u(X, Y) - k**2 * u(X, Y)
        A, b = fv.assemble(grid, f, diffusion=1.0, reaction=-k**2, boundary=fv.Boundary("robin", g, beta))
        errors.append(np.abs(solve(A, b) - u(X, Y).ravel()).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


def convection_errors(scheme, eps=0.1):
    # -ε Δu + ∇·(v u) = f, v = (sin πx cos πy, -cos πx sin πy) = curl ψ, ψ = sin πx sin πy / π.
    errors = []
    for n in (32, 64, 128, 256):
        grid, (X, Y) = exact_2d(n)
        hx, hy = grid.spacing
        xn, yn = np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1)
        wx = np.sin(PI * xn)[:, None] * np.cos(PI * grid.centers[1])[None, :]   # x-faces
        wy = -np.cos(PI * grid.centers[0])[:, None] * np.sin(PI * yn)[None, :]  # y-faces
        u = np.sin(PI * X) * np.sin(2 * PI * Y)
        ux, uy = PI * np.cos(PI * X) * np.sin(2 * PI * Y), 2 * PI * np.sin(PI * X) * np.cos(2 * PI * Y)
        vx, vy = np.sin(PI * X) * np.cos(PI * Y), -np.cos(PI * X) * np.sin(PI * Y)
        f = eps * 5 * PI**2 * u + vx * ux + vy * uy
        A, b = fv.assemble(grid, f, diffusion=eps, face_velocity=[wx, wy], scheme=scheme,
                           boundary=fv.Boundary("dirichlet", 0.0))
        errors.append(np.abs(solve(A, b) - u.ravel()).max())
    return errors


def test_advection_diffusion_upwind_first_order():
    errors = convection_errors("upwind")
    assert np.all(np.abs(orders(errors) - 1) <= 0.2), (errors, orders(errors))


def test_advection_diffusion_central_second_order():
    errors = convection_errors("central")
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


def test_stream_function_velocities_are_divergence_free_and_scaled_to_peclet():
    family = get_family("advection_diffusion")
    grid = Grid((24, 16), ((0.0, 2.0), (0.0, 1.0)))
    psi = np.random.default_rng(0).standard_normal(grid.shape)
    wx, wy = family.velocities(grid, {"stream": psi, "peclet": 40.0, "diffusivity": 0.05})
    hx, hy = grid.spacing
    divergence = (wx[1:, :] - wx[:-1, :]) / hx + (wy[:, 1:] - wy[:, :-1]) / hy
    assert np.abs(divergence).max() < 1e-12 * max(np.abs(wx).max(), np.abs(wy).max()) / min(hx, hy)
    assert np.isclose(max(np.abs(wx).max(), np.abs(wy).max()), 40.0 * 0.05 / 2.0)
    # No normal flow through the walls is not required; but the operator's column sums
    # equal the boundary outflow: check the system is nonsymmetric and solvable.
    system = family.assemble(grid, {"stream": psi, "peclet": 40.0, "diffusivity": 0.05, "forcing": 1.0},
                             {"value": 0.0})
    assert abs(system.A - system.A.T).max() > 0
    x = solve(system.A, system.b)
    assert np.linalg.norm(system.A @ x - system.b) <= 1e-10 * np.linalg.norm(system.b)


def integrate_heat(grid, values, recipe, family=None) -> np.ndarray:
    """The last state of a heat (or reaction-diffusion) trajectory, every solve direct."""
    family = family or Heat()
    system, rhs = family.stepper(grid, values, recipe)
    u = family.initial_state(grid, values)
    for step in range(1, recipe["discretization"]["steps"] + 1):
        for _ in range(family.solves_in_step(recipe, step)):
            u = solve(system.A, rhs(u, step))
    return u


@pytest.mark.parametrize("family,scheme,lasts", [
    ("heat", "rannacher", [[False, True], [True], [True], [True]]),
    ("heat", "backward-euler", [[True]] * 4),
    ("fisher_kpp", "crank-nicolson", [[False, True]] * 4),
])
def test_trajectory_steps_as_the_stepper_says(family, scheme, lasts):
    """Family.trajectory, the loop build, verify and bench share: each step's solves in
    turn, the last of a step told apart (Rannacher's half step, the IMEX predictor), the
    stored states every save_every-th step, and the states those of integrating the
    stepper's right-hand sides by hand."""
    grid = Grid((8, 8), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(5)
    values = {"coefficient": 0.1, "rate": 2.0, "forcing": 0.5, "initial": rng.uniform(0.1, 0.9, grid.shape)}
    recipe = {"boundary": {"kind": "neumann", "value": 0.0},
              "parameters": {"rate": {"dist": "constant", "value": 2.0}},
              "discretization": {"scheme": scheme, "t_end": 0.2, "steps": 4, "save_every": 2}}
    steps, calls, seen = [], [], []

    def by_hand(A, b, x0, last):
        calls.append(last)
        return solve(A, b)
    for step, u, stored in get_family(family).trajectory(grid, values, recipe, by_hand):
        steps.append((step, stored, u))
        seen.append(calls[:])
        calls.clear()
    assert seen == lasts
    assert [(step, stored) for step, stored, _ in steps] == [(1, False), (2, True), (3, False), (4, True)]
    assert np.abs(steps[-1][2] - integrate_heat(grid, values, recipe, get_family(family))).max() <= 1e-13


@pytest.mark.parametrize("family,scheme", [("heat", "rannacher"), ("fisher_kpp", "crank-nicolson")])
def test_a_graded_start_takes_each_stored_interval_with_its_own_steps(family, scheme):
    """start_refinement k = 2 on 3 stored intervals of 2 steps: Δt growing with t, the first
    interval as 8 steps of Δt/4 (Rannacher's half steps in its first), the next two as 4 of
    Δt/2 each (one step matrix for both), then Δt (none left here); the states those of
    integrating each interval by hand with a recipe of its Δt; the solves those
    solves_per_sample counts, also for a k deeper than the stored intervals."""
    grid = Grid((8, 8), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(5)
    values = {"coefficient": 0.1, "rate": 2.0, "forcing": 0.5, "initial": rng.uniform(0.1, 0.9, grid.shape)}
    recipe = {"boundary": {"kind": "neumann", "value": 0.0},
              "parameters": {"rate": {"dist": "constant", "value": 2.0}},
              "discretization": {"scheme": scheme, "t_end": 0.3, "steps": 6, "save_every": 2, "start_refinement": 2}}
    fam, matrices, yielded = get_family(family), [], []

    def by_hand(A, b, x0, last):
        if not matrices or matrices[-1] is not A:
            matrices.append(A)
        return solve(A, b)
    for step, u, stored in fam.trajectory(grid, values, recipe, by_hand):
        yielded.append((step, stored, u))
    assert [(step, stored) for step, stored, _ in yielded] == (
        [(i, i == 8) for i in range(1, 9)] + [(i, i == 8) for i in range(5, 9)] + [(i, i == 12) for i in range(9, 13)])
    assert len(matrices) == 2
    expected = values["initial"].ravel()
    for interval, factor in enumerate((4, 2, 2)):  # the interval's Δt as a whole recipe's
        by_interval = {**recipe, "discretization": {**recipe["discretization"], "steps": 6 * factor,
                                                    "save_every": 1}}
        system, rhs = fam.stepper(grid, values, by_interval)
        for step in range(interval * 2 * factor + 1, (interval + 1) * 2 * factor + 1):
            for _ in range(fam.solves_in_step(by_interval, step)):
                expected = solve(system.A, rhs(expected, step))
        assert np.abs([u for _, stored, u in yielded if stored][interval] - expected).max() <= 1e-13
    per_step = 2 if family == "fisher_kpp" else 1
    assert fam.solves_per_sample(recipe) == per_step * (8 + 4 + 4) + (1 if scheme == "rannacher" else 0)
    deeper = {**recipe, "discretization": {**recipe["discretization"], "start_refinement": 5}}  # 32x, 16x, 16x
    counted = []
    for _ in fam.trajectory(grid, values, deeper, lambda A, b, x0, last: counted.append(1) or solve(A, b)):
        pass
    assert fam.solves_per_sample(deeper) == len(counted) == per_step * (64 + 32 + 32) + (scheme == "rannacher")


@pytest.mark.parametrize("scheme,order", [("backward-euler", 1.0), ("crank-nicolson", 2.0), ("rannacher", 2.0)])
def test_heat_temporal_order(scheme, order):
    """Against the exact solution of the semi-discrete system u' = -L u + b (eigenvectors
    of the symmetric L), so that only the time discretisation error remains."""
    grid = Grid((12, 12), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(3)
    values = {"coefficient": np.exp(0.3 * rng.standard_normal(grid.shape)), "initial": rng.standard_normal(grid.shape),
              "forcing": 1.0}
    L, b = fv.assemble(grid, 1.0, diffusion=values["coefficient"], boundary=fv.Boundary("dirichlet", 0.0))
    lam, Q = sla.eigh(L.toarray())
    u0 = values["initial"].ravel()
    t_end = 0.01  # a few multiples of the slowest time scale 1/λ_min; stiff fast modes
    steady = Q @ ((Q.T @ b) / lam)
    exact = steady + Q @ (np.exp(-lam * t_end) * (Q.T @ (u0 - steady)))
    errors = []
    for steps in (20, 40, 80, 160):
        recipe = {"boundary": {"value": 0.0},
                  "discretization": {"scheme": scheme, "t_end": t_end, "steps": steps, "save_every": steps}}
        errors.append(np.abs(integrate_heat(grid, values, recipe) - exact).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


def test_rannachers_start_damps_what_crank_nicolson_leaves_of_rough_initial_data():
    """A GRF initial state (as the recipes draw it) and large steps (Δt/h² = 5): Crank-
    Nicolson carries its fast modes along with amplification near -1, Rannacher's start
    (two backward-Euler half steps, the same matrix) damps them: at t_end its error
    against the exact semi-discrete solution is 0.5% where Crank-Nicolson's is 32% and
    backward Euler's 25%."""
    from pdegen.fields import gaussian_random_field
    grid = Grid((32, 32), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(5)
    values = {"coefficient": np.exp(gaussian_random_field(grid.shape, 2.5, 7.0, rng)),
              "initial": gaussian_random_field(grid.shape, 2.5, 7.0, rng), "forcing": 0.0}
    L, _ = fv.assemble(grid, 0.0, diffusion=values["coefficient"], boundary=fv.Boundary("dirichlet", 0.0))
    lam, Q = sla.eigh(L.toarray())
    t_end, steps = 0.05, 10
    exact = Q @ (np.exp(-lam * t_end) * (Q.T @ values["initial"].ravel()))
    errors = {}
    for scheme in ("crank-nicolson", "backward-euler", "rannacher"):
        recipe = {"boundary": {"value": 0.0},
                  "discretization": {"scheme": scheme, "t_end": t_end, "steps": steps, "save_every": steps}}
        errors[scheme] = np.linalg.norm(integrate_heat(grid, values, recipe) - exact) / np.linalg.norm(exact)
    assert errors["rannacher"] < errors["crank-nicolson"] / 30, errors
    assert errors["rannacher"] < errors["backward-euler"] / 30, errors
    assert Heat().solves_per_sample({"discretization": {"scheme": "rannacher", "steps": steps}}) == steps + 1


def test_coefficient_jump_is_the_ratio_of_a_thresholded_fields_two_values():
    """What the planner's sharp-jump rules read: high/low of a thresholded operator
    parameter (either order), 1 for smooth or constant ones."""
    from pathlib import Path

    from pdegen.recipe import load_recipe
    recipes = Path(__file__).resolve().parents[1] / "recipes"

    def jump(name, *changes):
        recipe = load_recipe(recipes / f"{name}.yaml", list(changes))
        return recipe.family.coefficient_jump(recipe.data)
    assert jump("darcy_threshold") == 4.0  # FNO's 12 / 3
    assert jump("darcy_threshold", "parameters.coefficient.high=2", "parameters.coefficient.low=500") == 250.0
    assert jump("darcy") == 1.0  # exp(GRF): smooth, whatever its max/min
    assert jump("darcy", "parameters.coefficient={dist: constant, value: 3.0}") == 1.0


def test_darcy_with_dirichlet_and_neumann_faces_second_order():
    """u = sin(πx) sin(πy) + x + y², a = 1 + xy/2: u = g on the x faces, a ∂u/∂n = g (outward
    normal) on the y faces, g from u; the flux data is nonzero on both y faces."""
    def u(x, y):
        return np.sin(PI * x) * np.sin(PI * y) + x + y**2

    def a(x, y):
        return 1.0 + 0.5 * x * y

    def flux(axis, side, centres):  # a ∂u/∂n on a y face
        x, y = centres
        du_dy = PI * np.sin(PI * x) * np.cos(PI * y) + 2 * y
        return a(x, y) * (du_dy if side == 1 else -du_dy)

    errors = []
    for n in (16, 32, 64, 128):
        grid, (X, Y) = exact_2d(n)
        s = np.sin(PI * X) * np.sin(PI * Y)
        ux = PI * np.cos(PI * X) * np.sin(PI * Y) + 1
        uy = PI * np.sin(PI * X) * np.cos(PI * Y) + 2 * Y
        f = -(0.5 * Y * ux + a(X, Y) * (-PI**2 * s) + 0.5 * X * uy + a(X, Y) * (-PI**2 * s + 2))
        faces = {(0, 0): fv.Boundary("dirichlet", lambda ax, sd, c: u(*c)),
                 (0, 1): fv.Boundary("dirichlet", lambda ax, sd, c: u(*c)),
                 (1, 0): fv.Boundary("robin", flux), (1, 1): fv.Boundary("robin", flux)}
        A, b = fv.assemble(grid, f, diffusion=a(X, Y), boundary=faces)
        errors.append(np.abs(solve(A, b) - u(X, Y).ravel()).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


@pytest.mark.parametrize("axis", [0, 1])
def test_darcy_recipe_faces_give_a_linear_pressure_drop(axis):
    """The recipe's face names reach the right faces: u = 1 on the low face of ``axis``,
    0 on its high face, no flow through the others, a constant: u is linear along that
    axis alone, which the finite volumes reproduce exactly."""
    name = "xy"[axis]
    section = {"kind": "neumann", "value": 0.0,
               "faces": {f"{name}_low": {"kind": "dirichlet", "value": 1.0}, f"{name}_high": {"kind": "dirichlet"}}}
    grid = Grid((24, 16), ((0.0, 2.0), (0.0, 1.0)))
    system = get_family("darcy").assemble(grid, {"coefficient": np.full(grid.shape, 3.0), "forcing": 0.0}, section)
    coordinate = grid.mesh()[axis]
    length = grid.extent[axis][1] - grid.extent[axis][0]
    assert np.allclose(solve(system.A, system.b), (1.0 - coordinate / length).ravel(), atol=1e-12)


def test_heat_in_an_insulated_box_keeps_its_total_heat():
    """Every face Neumann with zero flux and no source: the scheme conserves the sum of
    u exactly (the columns of L sum to zero), at every stored state; with the default
    Dirichlet faces heat leaves the box."""
    from pdegen.fields import gaussian_random_field
    grid = Grid((16, 16), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(2)
    values = {"coefficient": np.exp(gaussian_random_field(grid.shape, 2.5, 7.0, rng)),
              "initial": 1.0 + gaussian_random_field(grid.shape, 2.5, 7.0, rng), "forcing": 0.0}
    totals = {}
    for kind in ("neumann", "dirichlet"):
        recipe = {"boundary": {"kind": kind, "value": 0.0},
                  "discretization": {"scheme": "rannacher", "t_end": 0.05, "steps": 10, "save_every": 10}}
        totals[kind] = integrate_heat(grid, values, recipe).sum()
    start = values["initial"].sum()
    assert abs(totals["neumann"] - start) <= 1e-10 * abs(start), (totals, start)
    assert totals["dirichlet"] < 0.9 * start, (totals, start)


@needs_petsc
def test_insulated_3d_heat_through_the_build_keeps_its_heat_with_multigrid(tmp_path):
    """A 3-D insulated box built by `pdegen build` with CG + multigrid (shifted aggregation,
    told that every face is Neumann): every stored state holds the initial state's total
    heat to float32 precision (the solves meet rtol 1e-10), where Dirichlet faces lose it."""
    from click.testing import CliRunner

    from pdegen.cli import main
    from pdegen.store import open_dataset
    recipe = Path(__file__).parents[1] / "recipes" / "heat.yaml"
    means = {}
    for kind in ("neumann", "dirichlet"):
        out = tmp_path / f"{kind}.zarr"
        result = CliRunner().invoke(main, [
            "build", str(recipe), "--samples", "2", "--set", "grid.shape=[24,24,24]", "--set", f"boundary.kind={kind}",
            "--set", "parameters.initial.mean=1.0", "--set", "discretization.steps=4", "--set", "solver.rtol=1e-10",
            "--set", "solver.preconditioner=mg", "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        with open_dataset(out) as ds:
            assert ds.attrs["plan"]["preconditioner"] == "mg" and ds.attrs["plan"]["multigrid_shift"] > 0
            assert len(ds.attrs["plan"]["multigrid_neumann"]) == (6 if kind == "neumann" else 0)
            initial = ds["inputs/initial"][:].astype(np.float64).mean(axis=(1, 2, 3))
            means[kind] = ds["outputs/solution"][:].astype(np.float64).mean(axis=(2, 3, 4)) / initial[:, None]
    assert np.abs(means["neumann"] - 1.0).max() <= 1e-6, means["neumann"]
    assert means["dirichlet"][:, -1].max() < 0.9, means["dirichlet"]


@pytest.mark.parametrize("family", ["allen_cahn", "fisher_kpp"])
@pytest.mark.parametrize("scheme,order", [("backward-euler", 1.0), ("crank-nicolson", 2.0), ("rannacher", 2.0)])
def test_reaction_diffusion_temporal_order(family, scheme, order):
    """Against the semi-discrete system u' = -L u + b + ρ r(u) integrated by SciPy's Radau
    to 1e-12: the IMEX schemes' own time error alone, for a varying diffusivity, a rough
    initial state and Neumann and Dirichlet faces. (Rannacher's start costs a larger error
    constant here: 1.6e-6 against CN's 1.6e-7 at 640 steps, its order reaching 2 from
    below, 1.86 / 1.92 / 1.96.)"""
    from scipy.integrate import solve_ivp
    reaction = get_family(family)
    grid = Grid((12, 12), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(4)
    values = {"coefficient": 0.05 * np.exp(0.3 * rng.standard_normal(grid.shape)), "rate": 3.0, "forcing": 0.2,
              "initial": 0.5 + 0.3 * rng.standard_normal(grid.shape)}
    boundary = {"kind": "neumann", "value": 0.0, "faces": {"x_low": {"kind": "dirichlet", "value": 0.4}}}
    t_end = 0.5
    L, b = fv.assemble(grid, values["forcing"], diffusion=values["coefficient"],
                       boundary=boundary_conditions(boundary, 2))
    reference = solve_ivp(lambda t, u: -(L @ u) + b + values["rate"] * reaction.reaction(u), (0.0, t_end),
                          values["initial"].ravel(), method="Radau", rtol=1e-12, atol=1e-12,
                          jac=lambda t, u: (-L).toarray() + np.diag(values["rate"] * derivative(family, u)))
    exact = reference.y[:, -1]
    errors = []
    for steps in (80, 160, 320, 640):
        recipe = {"boundary": boundary, "parameters": {"rate": {"dist": "constant", "value": values["rate"]}},
                  "discretization": {"scheme": scheme, "t_end": t_end, "steps": steps, "save_every": steps}}
        errors.append(np.abs(integrate_heat(grid, values, recipe, reaction) - exact).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


def derivative(family, u):
    return 1.0 - 3.0 * u**2 if family == "allen_cahn" else 1.0 - 2.0 * u


def test_fisher_kpp_stays_a_density_and_its_front_moves_at_the_kpp_speed():
    """u0 a step (1 for x < 0.2, else 0) on a 400-cell strip, no flux through the walls: u
    stays within [0, 1] (to 1e-3), and the front, where u = 1/2, moves between t = 4 and
    t = 8 at the KPP speed 2 sqrt(a ρ) less Bramson's correction for a steep start (its
    position c t - 3/(2λ) ln t, λ = sqrt(ρ/a)): 0.3870 against 0.3870, within 1%."""
    fisher = get_family("fisher_kpp")
    grid = Grid((400, 2), ((0.0, 4.0), (0.0, 0.02)))
    x = grid.mesh()[0]
    a, rate = 1e-2, 4.0
    values = {"coefficient": a, "rate": rate, "forcing": 0.0, "initial": (x < 0.2).astype(float)}
    fronts = []
    for t_end in (4.0, 8.0):
        recipe = {"boundary": {"kind": "neumann", "value": 0.0},
                  "parameters": {"rate": {"dist": "constant", "value": rate}},
                  "discretization": {"scheme": "rannacher", "t_end": t_end, "steps": int(100 * t_end),
                                     "save_every": 1}}
        u = integrate_heat(grid, values, recipe, fisher).reshape(grid.shape)[:, 0]
        assert -1e-3 <= u.min() and u.max() <= 1.0 + 1e-3, (u.min(), u.max())
        i = np.flatnonzero(u < 0.5)[0]  # the front between cells i - 1 and i, by linear interpolation
        xc = grid.centers[0]
        fronts.append(xc[i - 1] + (u[i - 1] - 0.5) / (u[i - 1] - u[i]) * (xc[i] - xc[i - 1]))
    speed = (fronts[1] - fronts[0]) / 4.0
    expected = 2 * np.sqrt(a * rate) - 3 / (2 * np.sqrt(rate / a)) * np.log(8.0 / 4.0) / 4.0
    assert abs(speed / expected - 1) <= 0.01, (speed, expected)


def test_reaction_recipes_refuse_an_unstable_explicit_reaction(tmp_path):
    """ρΔt > 1 is refused with the number of steps that would do."""
    from conftest import write_recipe
    from pdegen.recipe import RecipeError, load_recipe
    path = write_recipe(tmp_path, {"family": "fisher_kpp", "grid": {"shape": [16, 16]}, "samples": 4,
                                   "parameters": {"rate": {"dist": "uniform", "low": 1.0, "high": 30.0}},
                                   "discretization": {"t_end": 2.0, "steps": 40, "save_every": 2}})
    with pytest.raises(RecipeError, match=r"discretization.steps: the explicit reaction needs rate \* Δt <= 1, and "
                                          r"with rates up to 30 and t_end 2 that takes at least 60 steps, got 40"):
        load_recipe(path)


def test_periodic_axis_is_the_wrapped_stencil():
    """Periodic along x, Dirichlet along y, a = 1: the matrix is exactly kron(T_per, I)/hx²
    + kron(I, T_dir)/hy² (T_per the circulant second difference, T_dir the FV one with the
    half-cell boundary terms), and the CSR columns of every row are sorted."""
    import scipy.sparse as sp
    grid = Grid((6, 5), ((0.0, 3.0), (0.0, 1.0)))
    nx, ny = grid.shape
    hx, hy = grid.spacing
    faces = {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic"),
             (1, 0): fv.Boundary("dirichlet", 0.0), (1, 1): fv.Boundary("dirichlet", 0.0)}
    A, _ = fv.assemble(grid, 0.0, diffusion=1.0, boundary=faces)
    circulant = 2 * sp.identity(nx) - sp.eye(nx, k=1) - sp.eye(nx, k=-1) - sp.eye(nx, k=nx - 1) - sp.eye(nx, k=1 - nx)
    dirichlet = sp.diags([-np.ones(ny - 1), 2 * np.ones(ny), -np.ones(ny - 1)], [-1, 0, 1]).tolil()
    dirichlet[0, 0] = dirichlet[-1, -1] = 3.0  # the half-cell face: 2/h² on the diagonal
    expected = sp.kron(circulant, sp.identity(ny)) / hx**2 + sp.kron(sp.identity(nx), dirichlet) / hy**2
    assert abs(A - expected).max() <= 1e-12 * abs(expected).max()
    assert all(np.all(np.diff(A.indices[A.indptr[i]:A.indptr[i + 1]]) > 0) for i in range(A.shape[0]))


def test_darcy_periodic_along_x_second_order():
    """u = sin(2πx) sin(πy) + y, a = 1 + 0.3 cos(2πx): periodic in x, u = g on the y faces."""
    def u(x, y):
        return np.sin(2 * PI * x) * np.sin(PI * y) + y

    errors = []
    for n in (16, 32, 64, 128):
        grid, (X, Y) = exact_2d(n)
        a = 1 + 0.3 * np.cos(2 * PI * X)
        ux = 2 * PI * np.cos(2 * PI * X) * np.sin(PI * Y)
        lap = -5 * PI**2 * np.sin(2 * PI * X) * np.sin(PI * Y)
        f = -(-0.6 * PI * np.sin(2 * PI * X) * ux + a * lap)
        faces = {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic"),
                 (1, 0): fv.Boundary("dirichlet", lambda ax, sd, c: u(*c)),
                 (1, 1): fv.Boundary("dirichlet", lambda ax, sd, c: u(*c))}
        A, b = fv.assemble(grid, f, diffusion=a, boundary=faces)
        errors.append(np.abs(solve(A, b) - u(X, Y).ravel()).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))


@pytest.mark.parametrize("family", ["heat", "fisher_kpp"])
def test_periodic_trajectories_shift_with_their_initial_state(family):
    """On a periodic 1-D grid with a constant coefficient, shifting the initial state by k
    cells shifts every later state by k cells (to rounding): the wrap-around faces are faces
    like any other. (PDEBench's 1-D diffusion-reaction setting.) Heat also keeps its sum."""
    grid = Grid((64,), ((0.0, 1.0),))
    x = grid.centers[0]
    initial = 0.5 + 0.3 * np.sin(2 * PI * x) + 0.15 * np.cos(6 * PI * x)  # within (0, 1), as a density
    recipe = {"boundary": {"kind": "periodic", "value": 0.0},
              "parameters": {"rate": {"dist": "constant", "value": 5.0}},
              "discretization": {"scheme": "crank-nicolson", "t_end": 0.5, "steps": 50, "save_every": 50}}
    runs = []
    for shift in (0, 11):
        values = {"coefficient": 5e-3, "rate": 5.0, "forcing": 0.0, "initial": np.roll(initial, shift)}
        runs.append(integrate_heat(grid, values, recipe, get_family(family)))
    assert np.abs(np.roll(runs[0], 11) - runs[1]).max() <= 1e-12
    assert np.abs(runs[0] - initial).max() > 1e-2  # it moved
    if family == "heat":
        assert abs(runs[0].sum() - initial.sum()) <= 1e-10 * initial.sum()


def test_the_plan_hands_multigrid_its_periodic_axes():
    """256² Darcy periodic along y: CG + multigrid told to interpolate across the wrap."""
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    recipe = Path(__file__).parents[1] / "recipes" / "darcy.yaml"
    plan = make_plan(load_recipe(recipe, ["grid.shape=[256,256]", "boundary.faces.y_low.kind=periodic",
                                          "boundary.faces.y_high.kind=periodic"]))
    assert plan.preconditioner == "mg" and plan.multigrid_periodic == [1] and plan.multigrid_neumann == []
    assert any(reason.startswith("periodic along y: multigrid interpolates across the wrap") for reason in plan.reasons)


@pytest.mark.parametrize("scheme,order", [("upwind", 1.0), ("central", 2.0)])
def test_advection_diffusion_periodic_along_x(scheme, order):
    """-ε Δu + ∇·(v u) = f with v = curl ψ, ψ = cos(2πx) sin(πy)/π (periodic in x, no flow
    through the y walls), u = sin(2πx) sin(πy) + sin(πy): the convection crosses the wrap
    face; upwind first order, central second."""
    eps, errors = 0.1, []
    for n in (32, 64, 128, 256):
        grid, (X, Y) = exact_2d(n)
        xn, yn = np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1)
        wx = np.cos(2 * PI * xn)[:, None] * np.cos(PI * grid.centers[1])[None, :]       # ∂ψ/∂y on x-faces
        wy = 2 * np.sin(2 * PI * grid.centers[0])[:, None] * np.sin(PI * yn)[None, :]  # -∂ψ/∂x on y-faces
        u = np.sin(2 * PI * X) * np.sin(PI * Y) + np.sin(PI * Y)
        ux = 2 * PI * np.cos(2 * PI * X) * np.sin(PI * Y)
        uy = PI * np.sin(2 * PI * X) * np.cos(PI * Y) + PI * np.cos(PI * Y)
        lap = -5 * PI**2 * np.sin(2 * PI * X) * np.sin(PI * Y) - PI**2 * np.sin(PI * Y)
        vx, vy = np.cos(2 * PI * X) * np.cos(PI * Y), 2 * np.sin(2 * PI * X) * np.sin(PI * Y)
        f = -eps * lap + vx * ux + vy * uy
        faces = {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic"),
                 (1, 0): fv.Boundary("dirichlet", 0.0), (1, 1): fv.Boundary("dirichlet", 0.0)}
        A, b = fv.assemble(grid, f, diffusion=eps, face_velocity=[wx, wy], scheme=scheme, boundary=faces)
        errors.append(np.abs(solve(A, b) - u.ravel()).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


def test_periodic_advection_diffusion_is_divergence_free_across_the_wrap_and_shift_equivariant():
    """Periodic along x: the stream function wraps, so the first and last x-faces carry one
    velocity and every cell's discrete divergence (the wrap cells' included) is zero; and
    shifting ψ and f by k cells along x shifts the solution by k cells, to rounding."""
    family = get_family("advection_diffusion")
    grid = Grid((24, 16), ((0.0, 2.0), (0.0, 1.0)))
    rng = np.random.default_rng(1)
    psi, f = rng.standard_normal(grid.shape), rng.standard_normal(grid.shape)
    wx, wy = family.velocities(grid, {"stream": psi, "peclet": 40.0, "diffusivity": 0.05}, periodic=(0,))
    hx, hy = grid.spacing
    assert np.array_equal(wx[0], wx[-1])
    divergence = (wx[1:, :] - wx[:-1, :]) / hx + (wy[:, 1:] - wy[:, :-1]) / hy
    assert np.abs(divergence).max() < 1e-12 * np.abs(wx).max() / hx
    boundary = {"kind": "dirichlet", "value": 0.0,
                "faces": {"x_low": {"kind": "periodic"}, "x_high": {"kind": "periodic"}}}
    solutions = []
    for shift in (0, 7):
        values = {"stream": np.roll(psi, shift, axis=0), "forcing": np.roll(f, shift, axis=0), "peclet": 40.0,
                  "diffusivity": 0.05}
        system = family.assemble(grid, values, boundary)
        solutions.append(solve(system.A, system.b).reshape(grid.shape))
    assert np.abs(np.roll(solutions[0], 7, axis=0) - solutions[1]).max() <= 1e-10 * np.abs(solutions[0]).max()


@pytest.mark.parametrize("scheme,order", [("backward-euler", 1.0), ("crank-nicolson", 2.0), ("rannacher", 2.0)])
def test_transport_temporal_order_and_conservation(scheme, order):
    """Against the semi-discrete solution u(t) = exp(-A t) u0 (SciPy's expm_multiply) of a
    periodic box with a random flow: the schemes' orders; and the box keeps its total of u
    to rounding at every step count (the flow is divergence-free face by face)."""
    from scipy.sparse.linalg import expm_multiply
    transport = get_family("transport")
    grid = Grid((16, 16), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(6)
    values = {"diffusivity": 0.01, "stream": rng.standard_normal(grid.shape), "peclet": 50.0, "forcing": 0.0,
              "initial": rng.standard_normal(grid.shape)}
    boundary = {"kind": "periodic", "value": 0.0}
    A, _ = fv.assemble(grid, 0.0, diffusion=0.01, boundary=boundary_conditions(boundary, 2), scheme="central",
                       face_velocity=get_family("advection_diffusion").velocities(grid, values, periodic=(0, 1)))
    t_end, u0 = 0.2, values["initial"].ravel()
    exact = expm_multiply(-A * t_end, u0)
    errors = []
    for steps in (20, 40, 80, 160):
        recipe = {"boundary": boundary, "discretization": {"scheme": scheme, "t_end": t_end, "steps": steps,
                                                           "save_every": steps, "convection": "central"}}
        u = integrate_heat(grid, values, recipe, transport)
        assert abs(u.sum() - u0.sum()) <= 1e-12 * np.abs(u0).sum()
        errors.append(np.abs(u - exact).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


@pytest.mark.parametrize("scheme,order", [("upwind", 1.0), ("central", 2.0)])
def test_advection_diffusion_with_an_outflow_face(scheme, order):
    """v = (1 + y(1 - y), 0) flows in at x = 0 (Dirichlet) and out at x = 1, a Neumann face
    (ε ∂u/∂n = 0: the fluid carries its cell's u out); u = sin(πx/2) sin(πy) + y, whose
    x-derivative vanishes at x = 1; Dirichlet y faces (no flow through them). Orders 1 and 2."""
    def u(x, y):
        return np.sin(PI * x / 2) * np.sin(PI * y) + y

    def dirichlet(axis, side, centres):
        return u(*centres)

    faces = {(0, 0): fv.Boundary("dirichlet", dirichlet), (0, 1): fv.Boundary("robin", 0.0),
             (1, 0): fv.Boundary("dirichlet", dirichlet), (1, 1): fv.Boundary("dirichlet", dirichlet)}
    eps, errors = 0.05, []
    for n in (32, 64, 128, 256):
        grid, (X, Y) = exact_2d(n)
        wx = np.broadcast_to(1 + grid.centers[1] * (1 - grid.centers[1]), (n + 1, n)).copy()  # x-faces
        wy = np.zeros((n, n + 1))
        ux = PI / 2 * np.cos(PI * X / 2) * np.sin(PI * Y)
        lap = -(PI**2 / 4 + PI**2) * np.sin(PI * X / 2) * np.sin(PI * Y)
        f = -eps * lap + (1 + Y * (1 - Y)) * ux
        A, b = fv.assemble(grid, f, diffusion=eps, face_velocity=[wx, wy], scheme=scheme, boundary=faces)
        errors.append(np.abs(solve(A, b) - u(X, Y).ravel()).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


@pytest.mark.parametrize("scheme,order", [("upwind", 1.0), ("central", 2.0)])
def test_danckwerts_inflow_and_outflow_match_the_exact_profile(scheme, order):
    """Plug flow w = 1 along x, ε = 0.05, f = 1, inflow faces at both ends (Danckwerts:
    w u - ε u' = w g where the fluid enters, u' = 0 where it leaves), walls along y:
    u = g + ε/w² + x/w - (ε/w²) exp(w (x - 1)/ε), the same on every row. The outflow end's
    value (5) must not matter. Orders 1 (upwind) and 2 (central)."""
    eps, w, g = 0.05, 1.0, 0.7
    faces = {(0, 0): fv.Boundary("inflow", g), (0, 1): fv.Boundary("inflow", 5.0),
             (1, 0): fv.Boundary("robin", 0.0), (1, 1): fv.Boundary("robin", 0.0)}
    errors = []
    for n in (32, 64, 128, 256):
        grid = Grid((n, 4), ((0.0, 1.0), (0.0, 1.0)))
        velocity = [np.full((n + 1, 4), w), np.zeros((n, 5))]
        A, b = fv.assemble(grid, 1.0, diffusion=eps, face_velocity=velocity, scheme=scheme, boundary=faces)
        x = grid.mesh()[0]
        exact = g + eps / w**2 + x / w - eps / w**2 * np.exp(w * (x - 1) / eps)
        errors.append(np.abs(solve(A, b).reshape(grid.shape) - exact).max())
    assert np.all(np.abs(orders(errors) - order) <= 0.2), (errors, orders(errors))


def test_inflow_faces_balance_what_enters_what_leaves_and_the_source():
    """advection_diffusion with a random flow (a GRF stream function, Péclet 50) and every
    face an inflow face: the fluid entering brings u = 2 and diffusion crosses no face, so
    at steady state the total carried in plus the source equals what leaves with the
    boundary cells' u, to rounding (exact bookkeeping of the discrete fluxes)."""
    from pdegen.fields import gaussian_random_field
    family = get_family("advection_diffusion")
    grid = Grid((48, 40), ((0.0, 1.0), (0.0, 0.8)))
    values = {"diffusivity": 0.01, "stream": gaussian_random_field(grid.shape, 3.5, 5.0, np.random.default_rng(3)),
              "peclet": 50.0, "forcing": 1.0}
    system = family.assemble(grid, values, {"kind": "inflow", "value": 2.0})
    u = solve(system.A, system.b).reshape(grid.shape)
    (wx, wy), (hx, hy) = family.velocities(grid, values), grid.spacing
    out_x = np.concatenate([-wx[0], wx[-1]])   # outward normal velocity on the x faces (low, high)
    out_y = np.concatenate([-wy[:, 0], wy[:, -1]])
    cells_x, cells_y = np.concatenate([u[0], u[-1]]), np.concatenate([u[:, 0], u[:, -1]])
    leaves = hy * (np.maximum(out_x, 0) * cells_x).sum() + hx * (np.maximum(out_y, 0) * cells_y).sum()
    enters = 2.0 * (hy * np.maximum(-out_x, 0).sum() + hx * np.maximum(-out_y, 0).sum())
    source = 1.0 * 1.0 * 0.8
    assert enters > 0.1 and abs(enters + source - leaves) <= 1e-10 * (enters + source)
    # The boundary's u is not pinned to 2 anywhere (no Dirichlet layer), but the solution is
    # bounded below by the inflow value: upwind's discrete maximum principle, f >= 0.
    assert u.min() >= 2.0 - 1e-12 and np.abs(u - 2.0).max() > 0.01


def test_inflow_faces_in_recipes(tmp_path):
    """Allowed where a family has a flow, refused elsewhere with the kinds allowed (that an
    inflow face, like a Dirichlet one, is required: tests/test_recipe.py)."""
    from pdegen.recipe import validate as validate_recipe
    from pdegen.schema import RecipeError
    base = {"name": "a", "family": "advection_diffusion", "grid": {"shape": [16, 16]}, "samples": 2,
            "output": {"path": str(tmp_path / "a.zarr")}}
    recipe = validate_recipe({**base, "boundary": {"kind": "neumann", "faces": {"x_low": {"kind": "inflow",
                                                                                          "value": 1.0}}}})
    assert recipe["boundary"]["faces"]["x_low"] == {"kind": "inflow", "value": 1.0}
    validate_recipe({**base, "family": "transport", "boundary": {"kind": "inflow"}})
    with pytest.raises(RecipeError, match=r"boundary.kind: must be one of 'dirichlet', 'neumann', 'periodic'; got 'inflow'"):
        validate_recipe({**base, "family": "darcy", "boundary": {"kind": "inflow"}})


@pytest.mark.parametrize("kind", ["dirichlet", "periodic"])
def test_wave_keeps_its_energy_and_is_second_order(kind):
    """Newmark's average acceleration keeps E = ½‖(u' - u)/Δt‖² + ⅛ (u' + u)ᵀK(u' + u) of
    consecutive states to rounding at every step (no source); and against the semi-discrete
    solution with a source, u(t) = s + Q (cos(ωt) Qᵀ(u0 - s) + sin(ωt)/ω Qᵀv0), ω² the
    eigenvalues of K, K s = b (fixed edges), its error falls as Δt² (the first step's own
    formula, initial velocity and half source included)."""
    wave = get_family("wave")
    grid = Grid((12, 12), ((0.0, 1.0), (0.0, 1.0)))
    rng = np.random.default_rng(8)
    values = {"wavespeed": np.exp(0.3 * rng.standard_normal(grid.shape)), "forcing": 0.0,
              "initial": rng.standard_normal(grid.shape), "velocity": rng.standard_normal(grid.shape)}
    boundary = {"kind": kind, "value": 0.0}
    K, _ = fv.assemble(grid, 0.0, diffusion=values["wavespeed"] ** 2, boundary=boundary_conditions(boundary, 2))
    t_end, u0, v0 = 0.5, values["initial"].ravel(), values["velocity"].ravel()
    recipe = {"boundary": boundary, "discretization": {"t_end": t_end, "steps": 40, "save_every": 1}}
    system, rhs = wave.stepper(grid, values, recipe)
    states, u = [u0], u0
    for step in range(1, 41):
        u = solve(system.A, rhs(u, step))
        states.append(u)
    dt = t_end / 40
    energy = [0.5 * np.sum(((b - a) / dt) ** 2) + 0.125 * (a + b) @ (K @ (a + b)) for a, b in zip(states, states[1:])]
    assert np.ptp(energy) <= 1e-11 * energy[0], (min(energy), max(energy))
    if kind == "periodic":
        return
    forced = {**values, "forcing": 1.0}  # and a source: u(t) = s + Q(...)(u0 - s), K s = b
    K, b = fv.assemble(grid, 1.0, diffusion=values["wavespeed"] ** 2, boundary=boundary_conditions(boundary, 2))
    steady = solve(K, b)
    omega2, Q = sla.eigh(K.toarray())
    omega = np.sqrt(omega2)
    exact = steady + Q @ (np.cos(omega * t_end) * (Q.T @ (u0 - steady)) + np.sin(omega * t_end) / omega * (Q.T @ v0))
    errors = []
    for steps in (40, 80, 160, 320):
        recipe["discretization"] = {"t_end": t_end, "steps": steps, "save_every": steps}
        errors.append(np.abs(integrate_heat(grid, forced, recipe, wave) - exact).max())
    assert np.all(np.abs(orders(errors) - 2) <= 0.2), (errors, orders(errors))
    # Released at rest at the static solution it stays there, from the first step on (whose
    # source enters with half its weight).
    resting = {**forced, "initial": steady.reshape(grid.shape), "velocity": 0.0}
    recipe["discretization"] = {"t_end": t_end, "steps": 5, "save_every": 1}
    assert np.abs(integrate_heat(grid, resting, recipe, wave) - steady).max() <= 1e-12 * np.abs(steady).max()
