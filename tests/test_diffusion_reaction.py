"""diffusion_reaction (FitzHugh–Nagumo, two components): the scheme against independent
integrations, the two outputs in the store, verify, the plan and the recipe checks."""

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from scipy.integrate import solve_ivp

from conftest import needs_petsc, write_recipe
from pdegen.build import draw_values
from pdegen.cli import main
from pdegen.families import fv, get_family
from pdegen.families.boundary import conditions
from pdegen.families.heat import SolveBySparseLU
from pdegen.fields import sample_parameter, sample_rng
from pdegen.grid import Grid
from pdegen.plan import make_plan
from pdegen.recipe import RecipeError, validate
from pdegen.store import open_dataset
from pdegen.verify import verify_store

FAMILY = get_family("diffusion_reaction")
NEUMANN = {"kind": "neumann", "value": 0.0}


def states(grid, values, t_end, steps, save_every=None, family=FAMILY, boundary=NEUMANN):
    """The family's stored states (by default only the last), each solve by a sparse LU."""
    recipe = {"boundary": boundary, "discretization": {"scheme": "crank-nicolson", "t_end": t_end, "steps": steps,
                                                         "save_every": save_every or steps}}
    return np.array([u for _, u, kept in family.trajectory(grid, values, recipe, SolveBySparseLU()) if kept])


def method_of_lines(grid, boundary, du, dv, reaction, y0, t_end, jacobian=None):
    """[u; v] at t_end by SciPy's BDF on the semi-discrete system assembled here, u's diffusion
    with ``du`` and v's with ``dv``; ``reaction(u, v)`` -> (R_u, R_v), ``jacobian(Lu, Lv, y)``
    the whole system's, if given."""
    walls = conditions(boundary, grid.ndim)
    Lu, _ = fv.assemble(grid, 0.0, diffusion=du, boundary=walls)
    Lv, _ = fv.assemble(grid, 0.0, diffusion=dv, boundary=walls)
    n = grid.size

    def rhs(t, y):
        ru, rv = reaction(y[:n], y[n:])
        return np.concatenate([-Lu @ y[:n] + ru, -Lv @ y[n:] + rv])

    jac = None if jacobian is None else (lambda t, y: jacobian(Lu, Lv, y))
    return solve_ivp(rhs, (0, t_end), y0, method="BDF", rtol=1e-11, atol=1e-12, jac=jac).y[:, -1]


def fitzhugh_nagumo(grid, y0, t_end, du=1e-3, dv=5e-3):
    """[u; v] at t_end by :func:`method_of_lines` with FitzHugh–Nagumo's reaction (k = 5e-3)
    and the system's Jacobian."""
    n = grid.size
    return method_of_lines(grid, NEUMANN, du, dv, lambda u, v: (u - u**3 - 5e-3 - v, u - v), y0, t_end,
                           lambda Lu, Lv, y: sp.bmat([[-Lu + sp.diags(1 - 3 * y[:n] ** 2), -sp.identity(n)],
                                                     [sp.identity(n), -Lv - sp.identity(n)]]))


def white_noise_start():
    """(grid, values, [u0; v0]): PDEBench's initial state on 16², u0 and v0 N(0, 1) in every
    cell (up to 3.2 here), with its diffusivities and k."""
    grid = Grid((16, 16), ((-1, 1), (-1, 1)))
    rng = sample_rng(7, 0)
    u0, v0 = (sample_parameter({"dist": "white", "mean": 0.0, "std": 1.0}, grid.shape, rng) for _ in "uv")
    values = {"diffusivity_u": 1e-3, "diffusivity_v": 5e-3, "k": 5e-3, "initial_u": u0, "initial_v": v0}
    return grid, values, np.concatenate([u0.ravel(), v0.ravel()])


def test_uniform_states_follow_the_reaction_ode_at_second_order():
    # Constant states under no-flux walls: Δu = Δv = 0, so every cell follows
    # u' = u - u³ - k - v, v' = u - v, here against SciPy's RK45 at 1e-12.
    grid = Grid((4, 4), ((-1, 1), (-1, 1)))
    values = {"diffusivity_u": 1e-3, "diffusivity_v": 5e-3, "k": 5e-3, "initial_u": 0.8, "initial_v": -0.2}

    def ode(t, y):
        u, v = y
        return [u - u**3 - 5e-3 - v, u - v]

    exact = solve_ivp(ode, (0, 2.0), [0.8, -0.2], rtol=1e-12, atol=1e-12).y[:, -1]
    errors = []
    for steps in (20, 40, 80):
        final = states(grid, values, 2.0, steps)[-1]
        assert np.ptp(final[:16]) < 1e-12 and np.ptp(final[16:]) < 1e-12  # still uniform
        errors.append(np.abs(final[[0, 16]] - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.3)), (errors, orders)


def test_each_diffusivity_acts_on_its_own_component():
    # Against the method of lines integrated by SciPy's BDF with the two diffusions assembled
    # here, u with D_u and v with D_v: the family's trajectory converges to it at second order
    # (errors 2.6e-3, 4.8e-4, 1.2e-4 at t = 1); the diffusivities swapped move it by 0.81.
    grid = Grid((8, 8), ((-1, 1), (-1, 1)))
    rng = np.random.default_rng(3)
    u0, v0 = rng.standard_normal(grid.shape) * 0.5, rng.standard_normal(grid.shape) * 0.5
    values = {"diffusivity_u": 0.01, "diffusivity_v": 0.05, "k": 5e-3, "initial_u": u0, "initial_v": v0}
    y0 = np.concatenate([u0.ravel(), v0.ravel()])
    right, swapped = fitzhugh_nagumo(grid, y0, 1.0, 0.01, 0.05), fitzhugh_nagumo(grid, y0, 1.0, 0.05, 0.01)
    errors = [np.abs(states(grid, values, 1.0, steps)[-1] - right).max() for steps in (10, 20, 40)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), (errors, orders)
    assert np.abs(right - swapped).max() > 1000 * errors[-1]


def test_a_white_noise_start_converges_at_second_order():
    # PDEBench's initial states, N(0, 1) in every cell (here up to 3.2 on 16²), where the cubic
    # reaction is stiffest: to its first stored time, 0.05, the family's states converge at
    # second order to SciPy's BDF integration (max errors 4.5e-2, 8.9e-3, 2.0e-3, 4.6e-4 with
    # 2, 4, 8, 16 steps; the recipe's Δt, 0.0125, is 4).
    grid, values, y0 = white_noise_start()
    exact = fitzhugh_nagumo(grid, y0, 0.05)
    assert np.abs(exact - y0).max() > 0.5  # the start moves
    errors = [np.abs(states(grid, values, 0.05, steps)[-1] - exact).max() for steps in (2, 4, 8, 16)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.9) & (orders < 2.5)) and errors[1] < 1e-2, (errors, orders)


def test_a_graded_start_resolves_a_white_noise_start_that_uniform_steps_do_not():
    # The same white-noise state as above to t = 0.5 (10 stored intervals of 0.05, 4 steps
    # each, the recipe's Δt): a graded start with k = 3 (Δt growing with t) takes the first
    # interval in 32 steps, the next two in 16, the four after in 8 (2.7x the solves over
    # this short run); its first stored state is 79x closer to SciPy's BDF integration than
    # uniform steps' (1.1e-4 against 8.9e-3), the last 11x (8.1e-5 against 8.7e-4).
    grid, values, y0 = white_noise_start()
    exact = [fitzhugh_nagumo(grid, y0, t) for t in (0.05, 0.5)]
    errors, solves = {}, {}
    for k in (0, 3):
        recipe = {"boundary": NEUMANN, "discretization": {"scheme": "crank-nicolson", "t_end": 0.5, "steps": 40,
                                                          "save_every": 4, "start_refinement": k}}
        solve = SolveBySparseLU()
        stored = [u for _, u, kept in FAMILY.trajectory(grid, values, recipe, solve) if kept]
        errors[k] = [np.abs(stored[0] - exact[0]).max(), np.abs(stored[-1] - exact[1]).max()]
        solves[k] = solve.solves
        assert solves[k] == FAMILY.solves_per_sample(recipe) and len(stored) == 10
    assert solves == {0: 80, 3: 80 + 2 * 4 * (7 + 2 * 3 + 4 * 1)}
    assert errors[3][0] < errors[0][0] / 50 and errors[3][1] < errors[0][1] / 8, errors


def recipe(tmp_path, **changes):
    data = {"name": "fhn", "family": "diffusion_reaction", "grid": {"shape": [12, 12], "extent": [[-1, 1], [-1, 1]]},
            "samples": 4, "seed": 5, "discretization": {"t_end": 1.0, "steps": 20, "save_every": 5},
            "solver": {"backend": "numpy"}, "output": {"path": str(tmp_path / "fhn.zarr"), "chunk_samples": 2}}
    for key, value in changes.items():
        section, name = key.split(".")
        data[section] = {**data.get(section, {}), name: value}
    return data


def build(tmp_path, **changes):
    data = recipe(tmp_path, **changes)
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, data)), "-q"])
    assert result.exit_code == 0, result.output
    return data


@pytest.mark.parametrize("backend", ["numpy", pytest.param("petsc", marks=needs_petsc)])
def test_store_holds_u_and_v_as_the_family_integrates_them(tmp_path, backend):
    data = build(tmp_path, **{"solver.backend": backend, "output.dtype": "float64"})
    grid = Grid((12, 12), ((-1, 1), (-1, 1)))
    valid = validate(data)
    with open_dataset(data["output"]["path"]) as ds:
        assert ds.fields("outputs") == ["outputs/u", "outputs/v"]
        assert ds["outputs/u"].shape == ds["outputs/v"].shape == (4, 4, 12, 12)
        assert ds["stats/converged"][:].all()
        for row, sample in enumerate(ds["sample_id"][:]):
            values = draw_values(valid, FAMILY, int(sample))
            expected = states(grid, values, 1.0, 20, save_every=5).reshape(4, 2, 12, 12)
            assert np.abs(ds["outputs/u"][row] - expected[:, 0]).max() < 1e-7
            assert np.abs(ds["outputs/v"][row] - expected[:, 1]).max() < 1e-7
            assert np.array_equal(ds["inputs/initial_u"][row], values["initial_u"])
        # normalisation statistics per component, from the train split's rows
        train = ds.split_mask("train")
        for path in ("outputs/u", "outputs/v"):
            assert np.isclose(ds.attrs["normalization"][path]["mean"], ds[path][:][train].mean(), rtol=1e-10)
    assert verify_store(data["output"]["path"]).ok


@pytest.mark.parametrize("save_every, coarsen, start", [(1, 1, 0), (5, 1, 0), (5, 2, 0), (1, 1, 2)])
def test_verify_catches_an_error_in_either_component(tmp_path, save_every, coarsen, start):
    # A graded start (start = k) steps its first intervals with other Δt than the recipe's:
    # verify integrates such samples again rather than checking each step's residual.
    import zarr
    data = build(tmp_path, **{"discretization.save_every": save_every, "output.coarsen": coarsen,
                              "discretization.start_refinement": start})
    report = verify_store(data["output"]["path"])
    assert report.ok, report.problems
    assert (report.residuals if save_every == 1 and not start else report.reintegrated) == 4
    group = zarr.open_group(data["output"]["path"], mode="r+")
    for name, row, state in (("outputs/u", 0, 0), ("outputs/v", 2, -1)):  # 1% of the largest |value|, one cell
        values = group[name][row]
        assert values.shape[-1] == 12 // coarsen
        values[state, 3, 3] += 1e-2 * np.abs(values).max()
        group[name][row] = values
    report = verify_store(data["output"]["path"])
    assert [problem.split(":")[0] for problem in report.problems] == ["row 0 (sample 0)", "row 2 (sample 2)"], \
        report.problems


def test_plan_factorises_the_stacked_system_and_never_uses_geometric_multigrid(tmp_path):
    small = make_plan(validate(recipe(tmp_path, **{"solver.backend": "petsc"})))
    assert (small.method, small.preconditioner) == ("direct", "cholesky")
    assert any("2 components (u, v) stacked" in reason for reason in small.reasons)
    # A diffusivity drawn per sample (one factorisation per sample, not per data set) and
    # 2 x 768² unknowns: above the time-stepping direct limit, 1024².
    large = recipe(tmp_path, **{"solver.backend": "petsc",
                                "parameters.diffusivity_u": {"dist": "uniform", "low": 1e-3, "high": 2e-3}})
    large["grid"]["shape"] = [768, 768]
    plan = make_plan(validate(large))
    assert (plan.method, plan.preconditioner) == ("cg", "gamg")
    with pytest.raises(RecipeError, match="solver.preconditioner: 'mg'.*two-component"):
        validate(recipe(tmp_path, **{"solver.backend": "petsc", "solver.preconditioner": "mg"}))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("petsc", marks=needs_petsc)])
def test_a_graded_start_keeps_one_factorisation_per_step_matrix_where_they_fit(tmp_path, backend):
    from pdegen.plan import SLOT_UNKNOWNS, make_solver
    from solvers.slots import MatrixSlots
    graded = {"solver.backend": backend, "discretization.start_refinement": 3}
    plan = make_plan(validate(recipe(tmp_path, **graded)))
    assert plan.method == "direct" and plan.step_matrices == 4
    assert any("4 step matrices of a graded start" in reason for reason in plan.reasons)
    assert isinstance(make_solver(plan, validate(recipe(tmp_path, **graded))["solver"]), MatrixSlots)
    assert make_plan(validate(recipe(tmp_path, **{"solver.backend": backend}))).step_matrices == 1  # k = 0
    large = recipe(tmp_path, **graded)
    side = int(np.sqrt(SLOT_UNKNOWNS / 2 / 4)) + 1  # 4 factorisations of two species' unknowns: too many
    large["grid"]["shape"] = [side, side]
    plan = make_plan(validate(large))
    assert plan.step_matrices == 1 and any("too many to keep" in reason for reason in plan.reasons), plan.reasons


def test_too_long_a_step_for_the_explicit_reaction_is_refused(tmp_path):
    refused = r"discretization.steps: the explicit reaction.*B = 1.52 .*at least 30 steps, got 4"
    with pytest.raises(RecipeError, match=refused):
        validate(recipe(tmp_path, **{"discretization.steps": 4, "discretization.save_every": 1,
                                     "discretization.t_end": 5.0}))
    # white noise N(0, 1): B = 5 deviations (at least 1.2), 3·25 - 1 = 74 per unit time
    white = {"parameters.initial_u": {"dist": "white"}, "parameters.initial_v": {"dist": "white", "std": 0.5},
             "discretization.t_end": 5.0, "discretization.save_every": 2}
    with pytest.raises(RecipeError, match=r"B = 5 .*at least 370 steps, got 200"):
        validate(recipe(tmp_path, **white, **{"discretization.steps": 200}))
    assert validate(recipe(tmp_path, **white, **{"discretization.steps": 370}))["discretization"]["steps"] == 370


def test_training_data_takes_each_component_as_its_own_channels(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("neuralop")
    from pdegen.train import PDEDataset
    data = build(tmp_path, **{"discretization.save_every": 4})  # 5 stored states
    path = data["output"]["path"]
    with open_dataset(path) as ds:
        u, v = ds["outputs/u"][:], ds["outputs/v"][:]
        u0, v0 = ds["inputs/initial_u"][:], ds["inputs/initial_v"][:]
    raw = PDEDataset(path, None, normalize=False, history=2)
    assert raw.outputs == ["outputs/u", "outputs/v"]
    assert (raw.in_channels, raw.out_channels) == (2 + 2 * 2, 2 * 3)
    x, y = raw.batch([1, 3])
    rows = raw.rows[[1, 3]]
    expected_x = np.concatenate([u0[rows][:, None], v0[rows][:, None], u[rows, :2], v[rows, :2]], axis=1)
    assert torch.equal(x, torch.from_numpy(expected_x))
    assert torch.equal(y, torch.from_numpy(np.concatenate([u[rows, 2:], v[rows, 2:]], axis=1)))
    # normalised per component: u's and v's own train-split statistics
    normed = PDEDataset(path, None, history=2)
    _, yn = normed.batch([1, 3])
    with open_dataset(path) as ds:
        stats = ds.attrs["normalization"]
    for k, name in enumerate(("outputs/u", "outputs/v")):
        part = yn[:, 3 * k:3 * (k + 1)] * stats[name]["std"] + stats[name]["mean"]
        assert torch.allclose(part, y[:, 3 * k:3 * (k + 1)], atol=1e-5)


def test_an_interrupted_build_resumes_to_both_components_of_an_uninterrupted_one(tmp_path, monkeypatch):
    from conftest import resumed_beside_uninterrupted
    from pdegen import build as build_module
    from pdegen.recipe import load_recipe
    data = recipe(tmp_path, **{"discretization.steps": 10, "discretization.save_every": 5})
    data["samples"] = 6
    path = write_recipe(tmp_path, data)
    solve, calls = build_module._Segment.solve, [0]

    def stop_in_the_fourth_sample(self, *args):  # 20 solves per sample (10 Crank–Nicolson steps)
        calls[0] += 1
        self.stop.requested = self.stop.requested or calls[0] == 3 * 20 + 7
        return solve(self, *args)
    monkeypatch.setattr(build_module._Segment, "solve", stop_in_the_fourth_sample)
    with pytest.raises(KeyboardInterrupt):
        build_module.build(load_recipe(path), quiet=True)
    monkeypatch.undo()
    with resumed_beside_uninterrupted(tmp_path, path, data, already_done=3) as (a, b):
        assert a["done"][:].all() and a["sample_id"][:].tolist() == b["sample_id"][:].tolist()
        for name in ("outputs/u", "outputs/v"):
            assert a[name].shape == (6, 2, 12, 12)
            assert np.array_equal(a[name][:], b[name][:])
            assert a.attrs["normalization"][name] == pytest.approx(b.attrs["normalization"][name], rel=1e-12)


@needs_petsc
@pytest.mark.mpi
@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_a_build_on_two_ranks_writes_both_components_as_the_serial_one(tmp_path, fmt):
    import subprocess
    import sys

    from conftest import mpi_env, mpiexec
    if mpiexec() is None:
        pytest.skip("mpiexec not found")
    suffix = {"zarr": "zarr", "hdf5": "h5"}[fmt]
    stores = []
    for ranks in (1, 2):
        data = recipe(tmp_path, **{"solver.backend": "petsc", "output.format": fmt,
                                   "output.path": str(tmp_path / f"p{ranks}.{suffix}")})
        data["samples"] = 6
        path = write_recipe(tmp_path, data, f"p{ranks}.yaml")
        subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build", str(path), "-q"],
                       check=True, timeout=180, env=mpi_env())
        stores.append(open_dataset(tmp_path / f"p{ranks}.{suffix}"))
    one, two = stores
    assert two.attrs["summary"]["processes"] == 2
    for name in ("sample_id", "split", "done", "inputs/initial_u", "inputs/initial_v"):
        assert np.array_equal(one[name][:], two[name][:]), name
    for name in ("outputs/u", "outputs/v"):  # one factorisation either way: the same float32 values
        assert np.abs(one[name][:] - two[name][:]).max() <= 1e-6 * np.abs(one[name][:]).max()
        assert one.attrs["normalization"][name]["count"] == two.attrs["normalization"][name]["count"]
    assert verify_store(tmp_path / f"p2.{suffix}").ok


def test_plot_shows_both_components_in_two_rows(tmp_path):
    pytest.importorskip("matplotlib")
    from pdegen.plot import _layout, plot_sample
    data = build(tmp_path)
    with open_dataset(data["output"]["path"]) as ds:
        titles = plot_sample(ds, 0, tmp_path / "p.png")
    assert titles == ["inputs/initial_u", "inputs/initial_v", "outputs/u t=0.25", "outputs/u t=1",
                      "outputs/v t=0.25", "outputs/v t=1"]
    assert _layout(6, [[-1, 1], [-1, 1]])[:2] == (2, 3) and _layout(4, [[0, 1], [0, 1]])[:2] == (1, 4)
    assert (tmp_path / "p.png").stat().st_size > 0


GRAY_SCOTT = get_family("gray_scott")
PERIODIC = {"kind": "periodic"}


def test_gray_scott_uniform_states_follow_its_reaction_ode_at_second_order():
    # u' = F (1 - u) - u v², v' = u v² - (F + k) v from Pearson's seed state u = 0.5, v = 0.25
    # (u0 = 1 - 2 v0), against SciPy's RK45 at 1e-12.
    grid = Grid((4, 4), ((-1, 1), (-1, 1)))
    values = {"diffusivity_u": 2e-5, "diffusivity_v": 1e-5, "feed": 0.04, "kill": 0.06, "initial_v": 0.25}

    def ode(t, y):
        u, v = y
        return [0.04 * (1 - u) - u * v * v, u * v * v - 0.1 * v]

    exact = solve_ivp(ode, (0, 100.0), [0.5, 0.25], rtol=1e-12, atol=1e-12).y[:, -1]
    errors = []
    for steps in (100, 200, 400):
        final = states(grid, values, 100.0, steps, family=GRAY_SCOTT, boundary=PERIODIC)[-1]
        assert np.ptp(final[:16]) < 1e-12 and np.ptp(final[16:]) < 1e-12
        errors.append(np.abs(final[[0, 16]] - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.4)), (errors, orders)  # 2.20, 2.10: nearing 2 from above


def test_gray_scott_diffusivities_act_on_their_own_components():
    # A periodic 8² state against SciPy's BDF integration of the semi-discrete system
    # assembled here (u with D_u, v with D_v); the diffusivities swapped give another state.
    grid = Grid((8, 8), ((-1, 1), (-1, 1)))
    v0 = np.where(np.random.default_rng(4).random(grid.shape) < 0.3, 0.25, 0.0)
    values = {"diffusivity_u": 0.02, "diffusivity_v": 0.01, "feed": 0.04, "kill": 0.06, "initial_v": v0}
    y0 = np.concatenate([1 - 2 * v0.ravel(), v0.ravel()])

    def reference(du, dv):
        return method_of_lines(grid, PERIODIC, du, dv, lambda u, v: (0.04 * (1 - u) - u * v * v, u * v * v - 0.1 * v),
                               y0, 40.0)

    right, swapped = reference(0.02, 0.01), reference(0.01, 0.02)
    errors = [np.abs(states(grid, values, 40.0, steps, family=GRAY_SCOTT, boundary=PERIODIC)[-1] - right).max()
              for steps in (80, 160, 320)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), (errors, orders)  # 1.85, 1.93: nearing 2 from below
    assert np.abs(right - swapped).max() > 100 * errors[-1], (np.abs(right - swapped).max(), errors)


def test_gray_scott_refuses_a_step_its_explicit_reaction_cannot_take(tmp_path):
    data = {"family": "gray_scott", "grid": {"shape": [16, 16]}, "samples": 1,
            "discretization": {"t_end": 2000.0, "steps": 1000, "save_every": 20}}
    with pytest.raises(RecipeError, match=r"Δt ρ <= 1 with ρ = 0.628.*at least 1256 steps, got 1000"):
        validate(data)
    assert validate({**data, "discretization": {"t_end": 2000.0, "steps": 2000, "save_every": 20}})
