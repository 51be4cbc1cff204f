"""The viscous Burgers family: orders against Cole and Hopf's exact solution, the
conservation and shock speeds of the flux, its faces, and the recipe rule for Δt."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from scipy.special import log_ndtr
from click.testing import CliRunner

from pdegen.families import get_family
from pdegen.families import burgers as burgers_module
from pdegen.grid import Grid

BURGERS = get_family("burgers")
PI = np.pi


def integrate(grid, initial, viscosity, t_end, steps, boundary=None, convection="muscl"):
    """The state at t_end, every solve through one sparse LU (as the build reuses one)."""
    recipe = {"boundary": boundary or {"kind": "periodic", "value": 0.0},
              "discretization": {"scheme": "crank-nicolson", "t_end": t_end, "steps": steps, "save_every": steps,
                                 "convection": convection}}
    values = {"viscosity": viscosity, "initial": initial, "forcing": 0.0}
    system, rhs = BURGERS.stepper(grid, values, recipe)
    lu = spla.splu(system.A.tocsc())
    u = BURGERS.initial_state(grid, values)
    for step in range(1, steps + 1):
        for _ in range(BURGERS.solves_in_step(recipe, step)):
            u = lu.solve(rhs(u, step))
    return u.reshape(grid.shape)


def cole_hopf(x, t, nu=0.02, a=1.2):
    """u = -2ν φ_x / φ with φ = a + exp(-4π²νt) cos(2πx), a solution of the heat equation:
    a periodic solution of viscous Burgers (Cole 1951, Hopf 1950)."""
    decay = np.exp(-4 * PI**2 * nu * t)
    return 4 * PI * nu * decay * np.sin(2 * PI * x) / (a + decay * np.cos(2 * PI * x))


@pytest.mark.parametrize("convection,order", [("muscl", 2.0), ("upwind", 1.0)])
def test_orders_against_cole_hopf(convection, order):
    """Grid and step refined together (Δt = h/8): max-norm errors at t = 0.5 fall at
    second order with van Leer's slopes (2.11 / 2.19 / 2.16) and first with plain upwind
    (0.90 / 0.94 / 0.97)."""
    errors = []
    for n in (32, 64, 128, 256):
        grid = Grid((n,), ((0.0, 1.0),))
        x = grid.centers[0]
        u = integrate(grid, cole_hopf(x, 0.0), 0.02, 0.5, 4 * n, convection=convection)
        errors.append(np.abs(u - cole_hopf(x, 0.5)).max())
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    assert np.all(np.abs(rates - order) <= 0.25), (errors, rates)


def test_total_is_kept_and_a_shock_makes_no_new_extrema():
    """A periodic block (1 on [0.1, 0.4], -0.5 elsewhere) with ν = 1e-4 at the recipe's
    step limit: the total of u is kept to rounding, and the shock and the fan stay within
    [-0.5, 1] to 2e-4 (measured 8.7e-5: the midpoint rule is not strictly TVD). Slopes
    without the limiter overshoot by 2%."""
    n, t_end = 256, 0.5
    grid = Grid((n,), ((0.0, 1.0),))
    x = grid.centers[0]
    initial = np.where((x > 0.1) & (x < 0.4), 1.0, -0.5)
    steps = int(np.ceil(t_end * 1.0 * n / burgers_module.CFL))
    u = integrate(grid, initial, 1e-4, t_end, steps)
    assert abs(u.sum() - initial.sum()) <= 1e-12 * np.abs(initial).sum()
    assert u.max() - 1.0 <= 2e-4 and -0.5 - u.min() <= 2e-4, (u.max(), u.min())
    assert np.abs(u - initial).max() > 0.5  # it moved


def test_without_the_limiter_the_shock_overshoots(monkeypatch):
    """The twin of the test above: the unlimited (central) slope makes new extrema, so the
    bound there tests the limiter."""
    monkeypatch.setattr(burgers_module, "van_leer_slopes", lambda backward, forward: 0.5 * (backward + forward))
    n, t_end = 256, 0.5
    grid = Grid((n,), ((0.0, 1.0),))
    x = grid.centers[0]
    initial = np.where((x > 0.1) & (x < 0.4), 1.0, -0.5)
    u = integrate(grid, initial, 1e-4, t_end, int(np.ceil(t_end * n / burgers_module.CFL)))
    assert max(u.max() - 1.0, -0.5 - u.min()) > 1e-2


def riemann(x, t, left, right, nu, x0=0.3):
    """Viscous Burgers from a jump left | right at x0, exactly (Cole-Hopf): u = (left A +
    right B) / (A + B), A and B the heat kernel's weights of the two half-lines, each
    exp((c²t - 2c(x - x0)) / 4ν) erfc(±(x - x0 - ct) / sqrt(4νt)) with c its state (in logs)."""
    def log_weight(c, sign):
        z = sign * (x - x0 - c * t) / np.sqrt(4 * nu * t)
        return (c * c * t - 2 * c * (x - x0)) / (4 * nu) + log_ndtr(-np.sqrt(2) * z)  # erfc(z) = 2 Φ(-√2 z)

    weight = 1.0 / (1.0 + np.exp(log_weight(right, -1) - log_weight(left, 1)))
    return left * weight + right * (1.0 - weight)


@pytest.mark.parametrize("left,right", [(1.0, 0.0), (0.0, 1.0), (1.0, -0.5)])
def test_shocks_and_fans_match_the_exact_viscous_riemann_solution(left, right):
    """A jump at x = 0.3 between Neumann faces (u passes through them), ν = 1e-3, 800
    cells, t = 0.4: against the exact solution the shocks (moving at (left + right)/2:
    wrong speeds would miss by the jump) are 0.006 and 0.013 off at worst, the fan 1.2e-4,
    on average 2e-5 to 1.2e-4; a cell away from the shock the states are the faces'."""
    n, nu, t_end = 800, 1e-3, 0.4
    grid = Grid((n,), ((0.0, 1.0),))
    x = grid.centers[0]
    u = integrate(grid, np.where(x < 0.3, left, right), nu, t_end, 1000, boundary={"kind": "neumann", "value": 0.0})
    error = np.abs(u - riemann(x, t_end, left, right, nu))
    assert error.max() <= 0.02 and error.mean() <= 2e-4, (error.max(), error.mean())
    assert abs(u[0] - left) <= 1e-9 and abs(u[-1] - right) <= 1e-9


def test_dirichlet_faces_hold_their_values():
    """u = 1 held at x = 0 and u = -1 at x = 1 with u0 = 0 between: a standing viscous
    shock forms, the steady state of u u_x = ν u_xx with those values, -tanh((x - 1/2) /
    (2ν)) (the exact profile's tanh(1/(4ν)) being 1): 9.8e-4 off at worst on 200 cells
    (plain upwind: 0.022)."""
    n, nu = 200, 0.02
    grid = Grid((n,), ((0.0, 1.0),))
    x = grid.centers[0]
    boundary = {"kind": "dirichlet", "value": 0.0, "faces": {"x_low": {"kind": "dirichlet", "value": 1.0},
                                                              "x_high": {"kind": "dirichlet", "value": -1.0}}}
    u = integrate(grid, np.zeros(n), nu, 3.0, 1500, boundary=boundary)
    assert np.abs(u - (-np.tanh((x - 0.5) / (2 * nu)))).max() <= 2e-3


def test_two_dimensions_reduce_to_one():
    """u0 constant along one axis of a periodic 2-D grid: the flux along that axis is zero,
    so every line is the 1-D run (to rounding), along x and along y alike."""
    n, t_end, steps = 48, 0.3, 60
    line = Grid((n,), ((0.0, 1.0),))
    profile = 0.8 * np.sin(2 * PI * line.centers[0]) + 0.3 * np.cos(6 * PI * line.centers[0])
    expected = integrate(line, profile, 0.01, t_end, steps)
    along_x = integrate(Grid((n, 5), ((0.0, 1.0), (0.0, 0.5))), np.repeat(profile[:, None], 5, axis=1), 0.01,
                        t_end, steps)
    along_y = integrate(Grid((5, n), ((0.0, 0.5), (0.0, 1.0))), np.repeat(profile[None, :], 5, axis=0), 0.01,
                        t_end, steps)
    assert np.abs(along_x - expected[:, None]).max() <= 1e-12
    assert np.abs(along_y - expected[None, :]).max() <= 1e-12
    assert np.abs(expected - profile).max() > 0.05  # it moved


def test_each_sample_takes_the_steps_its_own_bound_needs():
    """Δt max|u| / h <= 0.4 with |u| bounded by the sample's max|u0| (2 here), its Dirichlet
    values and t_end max|f|: 1 x 2 x 256 / 0.4 = 1280 steps on 256 cells, a multiple of the
    20 stored states; the recipe's own where it asks for more."""
    grid = Grid((256,), ((0.0, 1.0),))
    initial = 2.0 * np.sin(2 * PI * grid.centers[0] + 0.1)
    u0_max = np.abs(initial).max()
    recipe = {"boundary": {"kind": "periodic", "value": 0.0},
              "discretization": {"scheme": "crank-nicolson", "t_end": 1.0, "steps": 20, "save_every": 1,
                                 "convection": "muscl"}}

    def steps_of(values, recipe):
        d = BURGERS.sample_recipe(grid, values, recipe)["discretization"]
        assert d["steps"] == 20 * d["save_every"] and d["t_end"] == 1.0
        return d["steps"]

    values = {"viscosity": 0.01, "initial": initial, "forcing": 0.0}
    assert steps_of(values, recipe) == 20 * int(np.ceil(u0_max * 256 / 0.4 / 20)) == 1280
    assert steps_of({**values, "forcing": 0.5}, recipe) == 20 * int(np.ceil((u0_max + 0.5) * 256 / 0.4 / 20))
    walls = {"kind": "dirichlet", "value": 0.0, "faces": {"x_high": {"kind": "dirichlet", "value": -3.0}}}
    assert steps_of(values, {**recipe, "boundary": walls}) == 1920
    more = {**recipe, "discretization": {**recipe["discretization"], "steps": 4000, "save_every": 200}}
    assert BURGERS.sample_recipe(grid, values, more) is more


def test_a_loud_start_takes_more_steps_and_stays_bounded(tmp_path):
    """A GRF four times FNO's amplitude (σ = 100) with `steps: 1`: every sample converges,
    no stored value passes its own max|u0| (the maximum principle, to 1e-3), and the plan
    does not claim one factorisation for every sample (each has its own Δt)."""
    from pdegen.cli import main
    from pdegen.store import open_dataset
    out = tmp_path / "loud.zarr"
    result = CliRunner().invoke(main, ["build", "recipes/burgers.yaml", "--samples", "4", "--set", "grid.shape=[128]",
                                       "--set", "parameters.initial.sigma=100", "--set", "discretization.steps=1",
                                       "--set", "discretization.start_refinement=0",
                                       "--set", "parameters.viscosity.value=0.01", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with open_dataset(out) as ds:
        assert ds["stats/converged"][:].all()
        u0 = np.abs(ds["inputs/initial"][:]).max(axis=1)
        assert u0.min() > 2.0  # loud indeed (FNO's amplitude: about 1.3)
        assert np.all(np.abs(ds["outputs/solution"][:, 0]).max(axis=1) <= u0 + 1e-3)
        assert not any("same for every sample" in reason for reason in ds.attrs["plan"]["reasons"])


@pytest.mark.parametrize("graded", [0, 2])
def test_a_build_stores_what_verify_recomputes(tmp_path, graded):
    """recipes/burgers.yaml at 64 cells, every step stored: verify recomputes each step
    (its predictor solve included), or with the recipe's graded start (other Δt first)
    integrates each sample again, and passes; a 1% change of one value is found."""
    import zarr

    from pdegen.cli import main
    from pdegen.verify import verify_store
    out = tmp_path / "burgers.zarr"
    result = CliRunner().invoke(main, ["build", "recipes/burgers.yaml", "--samples", "3", "--set", "grid.shape=[64]",
                                       "--set", "discretization.t_end=0.3", "--set", "discretization.steps=200",
                                       "--set", "discretization.save_every=1",
                                       "--set", f"discretization.start_refinement={graded}",
                                       "--set", "solver.backend=numpy", "--set", "output.dtype=float64",
                                       "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    report = verify_store(out)
    assert report.ok and (report.reintegrated if graded else report.residuals) == 3, report.summary()
    handle = zarr.open_group(str(out), mode="r+")
    u = handle["outputs/solution"][2]
    assert np.abs(u[-1] - u[0]).max() > 0.1  # it moved
    u[100, 10] *= 1.01
    handle["outputs/solution"][2] = u
    report = verify_store(out)
    assert [p.split(":")[0] for p in report.problems] == ["row 2 (sample 2)"], report.problems


def test_plot_draws_a_1d_trajectory_over_x_and_t(tmp_path):
    """`pdegen plot` of a 1-D trajectory: the initial state as a curve, the solution as
    one picture over x and t (not its first and last states); `pdegen info` names the
    stored times."""
    pytest.importorskip("matplotlib")
    from pdegen.cli import main
    from pdegen.plot import plot_sample
    from pdegen.store import open_dataset
    out = tmp_path / "burgers.zarr"
    result = CliRunner().invoke(main, ["build", "recipes/burgers.yaml", "--samples", "2", "--set", "grid.shape=[64]",
                                       "--set", "discretization.t_end=0.3", "--set", "discretization.steps=200",
                                       "--set", "discretization.save_every=10", "--set", "solver.backend=numpy",
                                       "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with open_dataset(out) as ds:
        assert plot_sample(ds, 1, tmp_path / "b.png") == ["inputs/initial", "outputs/solution over x and t"]
    assert "  times      20 stored, t = 0.015 to 0.3\n" in CliRunner().invoke(main, ["info", str(out)]).output
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_planner_counts_a_typical_samples_solves():
    """For the plan, a sample's solves from a typical |u0| (1.5 pointwise standard
    deviations, 0.839 each here): 2 x 1.5 x 0.839 x 1024 / 0.4 on the recipe, rounded up to a
    multiple of its 20 stored states as a sample's steps are, plus the graded start's (the
    recipe's start_refinement 2: the first stored interval in 4x the steps, the next two
    in 2x, 5 intervals more), within the range the first 20 samples' own counts span."""
    from pdegen.build import draw_values, grid_of
    from pdegen.fields import grf_pointwise_variance
    from pdegen.recipe import load_recipe
    data = load_recipe("recipes/burgers.yaml").data
    assert data["discretization"]["start_refinement"] == 2
    std = np.sqrt(grf_pointwise_variance((1024,), 2.0, 5.0, 25.0))
    per_interval = int(np.ceil(1.5 * std * 1024 / 0.4 / 20))
    assert BURGERS.solves_per_sample(data) == 2 * per_interval * (20 + 5)
    steps = [BURGERS.sample_recipe(grid_of(data), draw_values(data, BURGERS, i), data)["discretization"]["steps"]
             for i in range(20)]
    own = [2 * (n + 5 * n // 20) for n in steps]
    assert min(own) < BURGERS.solves_per_sample(data) < max(own), (min(own), max(own))


def test_a_graded_start_takes_the_error_of_a_rough_start_away():
    """recipes/burgers.yaml's GRF starts on 256 cells, against the same samples in 16x the
    steps (Rannacher's start, k = 3): uniform Crank–Nicolson steps leave their worst error at
    the first stored state (its stiff high modes, Δt ν / h² = 3-8, barely damped); the
    graded start of the recipe (k = 2) takes the worst error over the stored states down
    more than 10x for 25% more solves, as many as solves_per_sample counts for the sample's steps."""
    from pdegen.build import draw_values
    from pdegen.families.heat import Heat, SolveBySparseLU
    from pdegen.recipe import load_recipe
    data = load_recipe("recipes/burgers.yaml", ["grid.shape=[256]"]).data
    grid = Grid((256,), ((0.0, 1.0),))

    def stored(values, scheme, k, factor=1):
        recipe = {**data, "discretization": {**data["discretization"], "scheme": scheme, "start_refinement": k}}
        own = BURGERS.sample_recipe(grid, values, recipe)
        d = own["discretization"]
        own = {**own, "discretization": {**d, "steps": factor * d["steps"], "save_every": factor * d["save_every"]}}
        solve = SolveBySparseLU()
        states = np.array([u for _, u, kept in BURGERS.trajectory(grid, values, own, solve) if kept])
        assert solve.solves == Heat.solves_per_sample(BURGERS, own)
        return states, solve.solves

    for sample in (0, 2):
        values = draw_values(data, BURGERS, sample)
        reference, _ = stored(values, "rannacher", 3, factor=16)
        errors, solves = {}, {}
        for k in (0, 2):
            states, solves[k] = stored(values, "crank-nicolson", k)
            errors[k] = np.linalg.norm(states - reference, axis=1) / np.linalg.norm(reference, axis=1)
        assert errors[0].argmax() == 0 and errors[2].max() < errors[0].max() / 10, (errors[0][:3], errors[2].max())
        assert solves[2] == solves[0] * 25 // 20


def test_a_3d_plan_does_not_claim_one_time_step():
    """In 3-D the planner names the step ratio Δt a/h² for heat; Burgers' Δt is each
    sample's own, and the plan says so instead of printing a ratio of 0."""
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    plan = make_plan(load_recipe("recipes/burgers2d.yaml", ["grid.shape=[16,16,16]"]))
    assert any("time-stepping in 3-D (each sample its own Δt)" in reason for reason in plan.reasons), plan.reasons
    heat = make_plan(load_recipe("recipes/heat.yaml", ["grid.shape=[32,32,32]"]))
    assert any("time-stepping in 3-D (Δt a/h² = 2.56)" in reason for reason in heat.reasons), heat.reasons
