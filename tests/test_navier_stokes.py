"""2-D incompressible Navier–Stokes in vorticity form (pdegen.families.navier_stokes)."""

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import mpi_env, mpiexec, needs_petsc, resumed_beside_uninterrupted, small_recipe, write_recipe
from problems import fourier_resample, vorticity_pseudo_spectral
from pdegen.families import fv
from pdegen.families import navier_stokes as ns
from pdegen.families.heat import SolveBySparseLU
from pdegen.grid import Grid

NU, AMPLITUDE, T_END = 5e-3, 0.1, 2.0


def omega0(x, y):
    """Smooth, with nonlinear interaction (a Taylor–Green cell alone has none)."""
    return (np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y) + 0.8 * np.cos(4 * np.pi * x + 1.0) * np.cos(2 * np.pi * y)
            + 0.5 * np.sin(2 * np.pi * (x + 2 * y)))


def pseudo_spectral(n: int, t_end: float) -> np.ndarray:
    """The reference at t_end on n² cells (tests/problems.py)."""
    centres = (np.arange(n) + 0.5) / n
    return vorticity_pseudo_spectral(omega0(*np.meshgrid(centres, centres, indexing="ij")), NU, AMPLITUDE,
                                     [t_end], 5e-3)[0]


def integrate(n: int, convection: str = "muscl", t_end: float = T_END, initial=None):
    grid = Grid((n, n), ((0.0, 1.0), (0.0, 1.0)))
    recipe = {"boundary": {"kind": "periodic"},
              "discretization": {"scheme": "crank-nicolson", "t_end": t_end, "steps": 4, "save_every": 1,
                                 "convection": convection}}
    values = {"viscosity": NU, "initial": omega0(*grid.mesh()) if initial is None else initial,
              "forcing_amplitude": AMPLITUDE}
    states = [u.reshape(grid.shape) for _, u, stored in
              ns.NavierStokes().trajectory(grid, values, recipe, SolveBySparseLU()) if stored]
    return grid, np.array(states)


@pytest.mark.parametrize("convection, lowest_ratio", [("muscl", 3.0), ("central", 3.6)])
def test_vorticity_converges_at_second_order_to_a_pseudo_spectral_solution(convection, lowest_ratio):
    """ν = 5e-3, FNO's forcing, to t = 2 (Δt tied to h by the CFL rule): the max-norm error
    against a pseudo-spectral solution (itself converged to 1e-15: 64² against 128²) falls
    4x per halving of h with central fluxes and 3.4-3.7x with van Leer's limited ones
    (which clip extrema), 1.0e-2 / 2.5e-3 / 6.3e-4 and 6.6e-3 / 2.0e-3 / 5.3e-4 at 32² / 64² / 128²."""
    reference = pseudo_spectral(64, T_END)
    errors = []
    for n in (32, 64):
        _, states = integrate(n, convection)
        errors.append(np.abs(states[-1] - fourier_resample(reference, n)).max() / np.abs(reference).max())
    assert errors[1] < 3e-3 and errors[0] / errors[1] >= lowest_ratio, errors


def test_stream_function_inverts_the_periodic_laplacian_and_the_flow_is_divergence_free():
    grid = Grid((24, 40), ((0.0, 1.0), (0.0, 2.0)))
    rng = np.random.default_rng(0)
    omega = rng.standard_normal(grid.shape) + 3.0
    psi = ns.stream_function(omega, grid)
    L = fv.assemble(grid, 0.0, diffusion=1.0, boundary=fv.Boundary("periodic"))[0]  # -Δ, 5 points
    assert abs(psi.mean()) < 1e-14
    assert np.abs(L @ psi.ravel() - (omega - omega.mean()).ravel()).max() < 1e-10 * np.abs(omega).max()
    wx, wy = ns.face_velocities(omega, grid)
    divergence = np.diff(wx, axis=0) / grid.spacing[0] + np.diff(wy, axis=1) / grid.spacing[1]
    assert np.abs(divergence).max() < 1e-10 * np.abs(wx).max() / grid.spacing[0]


@pytest.mark.parametrize("scheme", ["pseudo-spectral", "crank-nicolson"])
def test_velocity_of_a_cellular_flow_is_exact_spectrally_and_second_order_by_finite_volumes(scheme):
    # ψ = sin(2πx) sin(πy) on [0, 1] x [0, 2]: ω = -Δψ = 5π² ψ, u = ∂ψ/∂y, v = -∂ψ/∂x
    recipe = {"discretization": {"scheme": scheme}}
    errors = []
    for n in (16, 32):
        grid = Grid((n, 2 * n), ((0.0, 1.0), (0.0, 2.0)))
        x, y = grid.mesh()
        psi = np.sin(2 * np.pi * x) * np.sin(np.pi * y)
        exact = np.stack([np.pi * np.sin(2 * np.pi * x) * np.cos(np.pi * y),
                          -2 * np.pi * np.cos(2 * np.pi * x) * np.sin(np.pi * y)])
        velocity = ns.NavierStokes().vector_fields(grid, (5 * np.pi**2 * psi).ravel(), recipe)["velocity"]
        assert velocity.shape == (2, n, 2 * n)
        errors.append(np.abs(velocity - exact).max() / np.abs(exact).max())
    if scheme == "pseudo-spectral":
        assert max(errors) < 1e-13, errors
    else:
        assert 3.5 < errors[0] / errors[1] < 4.5 and errors[1] < 1e-2, errors


def test_the_total_vorticity_changes_only_by_the_source():
    """A periodic flow in conservative form keeps the total of ω; FNO's forcing sums to 0
    over the grid, so every stored state has ω₀'s mean, to rounding."""
    grid = Grid((32, 32), ((0.0, 1.0), (0.0, 1.0)))
    initial = omega0(*grid.mesh()) + 0.3
    _, states = integrate(32, t_end=1.0, initial=initial)
    assert np.abs(states.mean(axis=(1, 2)) - initial.mean()).max() < 1e-12


def test_a_flow_that_outgrows_its_first_steps_is_stepped_again_finer(monkeypatch):
    """With the first try's Δt 10x too long (SPEED_MARGIN 0.2), every stored interval that
    would start a step above the CFL limit is done again with half the Δt: the stored
    states keep their times and their accuracy (against the pseudo-spectral solution, as
    the default start: 6.6e-3 at 32²); a flow that needs more than MAX_REFINEMENT times
    the first steps is an error, not a trajectory."""
    reference = fourier_resample(pseudo_spectral(64, T_END), 32)
    steppers = []
    stepper = ns.NavierStokes.stepper
    monkeypatch.setattr(ns.NavierStokes, "stepper", lambda self, g, v, r: (steppers.append(r["discretization"]["steps"])
                                                                            or stepper(self, g, v, r)))
    monkeypatch.setattr(ns, "SPEED_MARGIN", 0.2)
    _, states = integrate(32)
    assert len(steppers) >= 3 and steppers == sorted(steppers), steppers  # refined, never coarsened
    assert len(states) == 4
    assert np.abs(states[-1] - reference).max() / np.abs(reference).max() < 1e-2
    monkeypatch.setattr(ns, "MAX_REFINEMENT", 2)
    with pytest.raises(FloatingPointError, match="navier_stokes: the flow blew up"):
        integrate(32)


@needs_petsc
def test_a_refined_build_verifies(tmp_path, monkeypatch):
    """The build stores the refined trajectories, and verify integrates them again through
    the same refinements (one LU per step matrix: it used to keep the first)."""
    from pdegen.cli import main
    from pdegen.verify import verify_store
    monkeypatch.setattr(ns, "SPEED_MARGIN", 0.2)
    recipe = small_recipe(tmp_path, **{"family": "navier_stokes", "parameters": None, "samples": 2,
                                       "grid.shape": [24, 24], "boundary": {"kind": "periodic"},
                                       "discretization": {"scheme": "crank-nicolson", "t_end": 4.0, "steps": 4},
                                       "solver.backend": "petsc"})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    report = verify_store(tmp_path / "tiny.zarr")
    assert report.ok and report.checked == 2, report.problems


@needs_petsc
def test_a_flow_that_blows_up_is_a_failed_sample_not_a_failed_build(tmp_path, monkeypatch):
    """A sample that would need more than MAX_REFINEMENT times its first steps is stored as
    failed (NaN, stats/converged false); the build goes on and exits with status 1."""
    from pdegen.cli import main
    from pdegen.store import open_dataset
    monkeypatch.setattr(ns, "SPEED_MARGIN", 0.2)
    monkeypatch.setattr(ns, "MAX_REFINEMENT", 2)
    recipe = small_recipe(tmp_path, **{"family": "navier_stokes", "parameters": None, "samples": 2,
                                       "grid.shape": [24, 24], "boundary": {"kind": "periodic"},
                                       "discretization": {"scheme": "crank-nicolson", "t_end": 4.0, "steps": 4},
                                       "solver.backend": "petsc"})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe))])
    assert result.exit_code == 1 and "2 FAILED" in result.output, result.output
    with open_dataset(tmp_path / "tiny.zarr") as ds:
        assert ds["done"][:].all() and not ds["stats/converged"][:].any()
        assert np.isnan(ds["outputs/solution"][:]).all()


def test_recipes_are_two_dimensional_and_periodic(tmp_path):
    from pdegen.recipe import validate
    from pdegen.schema import RecipeError
    base = {"name": "n", "family": "navier_stokes", "grid": {"shape": [16, 16]}, "samples": 2,
            "output": {"path": str(tmp_path / "n.zarr")}}
    assert validate(base)["discretization"]["t_end"] == 50.0  # FNO's
    with pytest.raises(RecipeError, match="family 'navier_stokes' is 2-D, got 3 axes"):
        validate({**base, "grid": {"shape": [8, 8, 8]}})
    with pytest.raises(RecipeError, match="boundary.kind: must be one of 'periodic'; got 'dirichlet'"):
        validate({**base, "boundary": {"kind": "dirichlet"}})


# Pseudo-spectral (the default scheme, pdegen.families.spectral)

def spectral_states(n: int, t_end: float = T_END, lengths=(1.0, 1.0), initial=omega0, nu: float = NU,
                    amplitude: float = AMPLITUDE, stored: int = 4) -> tuple[Grid, np.ndarray]:
    grid = Grid((n, n), ((0.0, lengths[0]), (0.0, lengths[1])))
    recipe = {"boundary": {"kind": "periodic"},
              "discretization": {"scheme": "pseudo-spectral", "t_end": t_end, "steps": stored, "save_every": 1}}
    values = {"viscosity": nu, "initial": initial(*grid.mesh()), "forcing_amplitude": amplitude}
    states = [u.reshape(grid.shape) for _, u, kept in ns.NavierStokes().trajectory(grid, values, recipe, None)
              if kept]
    return grid, np.array(states)


def test_pseudo_spectral_states_match_an_independent_pseudo_spectral_solution():
    """Against tests/problems.py's solver (complex FFTs, a fixed Δt of 5e-3 against the
    scheme's CFL-sized steps) from the same ω₀ at 32² (ν = 5e-3, to t = 2): the two agree
    to 3.2e-9 of max|ω| at every stored time, where finite volumes are 6.6e-3 off."""
    _, states = spectral_states(32)
    centres = (np.arange(32) + 0.5) / 32
    reference = vorticity_pseudo_spectral(omega0(*np.meshgrid(centres, centres, indexing="ij")), NU, AMPLITUDE,
                                          [0.5, 1.0, 1.5, 2.0], 5e-3)
    assert states.shape == reference.shape
    assert np.abs(states - reference).max() < 1e-8 * np.abs(reference).max()


def test_pseudo_spectral_steps_keep_exact_solutions_on_a_stretched_box():
    """A flow whose modes all have one |k| has u·∇ω = 0, so its evolution is known: FNO's
    forcing on a 1 x 2 box has wave vector (2π, π), ω = f / (ν |k|²) is steady, and a
    cell sin 2πx sin πy on the same shell, added to it, decays as exp(-ν |k|² t). The
    stored states are those to 1.1e-10 by t = 1 (rounding: u·∇ω cancels only in exact
    arithmetic)."""
    nu, amplitude, lengths = 1e-2, 0.3, (1.0, 2.0)
    k2 = (2 * np.pi) ** 2 + np.pi**2

    def steady(x, y):
        return amplitude * (np.sin(2 * np.pi * x + np.pi * y) + np.cos(2 * np.pi * x + np.pi * y)) / (nu * k2)

    def cell(x, y):  # the same shell: |(2π, π)|² = k2
        return np.sin(2 * np.pi * x) * np.sin(np.pi * y)

    grid, states = spectral_states(24, t_end=1.0, lengths=lengths, initial=lambda x, y: steady(x, y) + cell(x, y),
                                   nu=nu, amplitude=amplitude)
    x, y = grid.mesh()
    for t, state in zip((0.25, 0.5, 0.75, 1.0), states):
        exact = steady(x, y) + cell(x, y) * np.exp(-nu * k2 * t)
        assert np.abs(state - exact).max() < 1e-9 * np.abs(exact).max(), t


def test_a_pseudo_spectral_flow_that_blows_up_is_an_error(monkeypatch):
    """First steps 100x too few (SPEED_MARGIN 0.02 for 2: a Courant number of 25 at the
    start) are refined until the flow at each interval's end is within the CFL limit of 1:
    the states stay accurate (1.4e-6 from the default steps, RK4 at twice the Courant
    number); allowed only twice the first steps, the flow is reported as blown up."""
    from pdegen.families import spectral
    _, accurate = spectral_states(32)
    monkeypatch.setattr(spectral, "SPEED_MARGIN", 0.02)
    _, refined = spectral_states(32)
    assert np.abs(refined - accurate).max() < 1e-5 * np.abs(accurate).max()
    monkeypatch.setattr(spectral, "MAX_REFINEMENT", 2)
    with pytest.raises(FloatingPointError, match="navier_stokes: the flow blew up"):
        spectral_states(32)


def test_a_pseudo_spectral_build_solves_nothing_and_verifies(tmp_path):
    """The plan has no solver, the store says so, verify integrates the samples again;
    a solver method or `pdegen bench` on such a recipe is refused with the reason."""
    import zarr

    from pdegen.bench import run_bench
    from pdegen.cli import main
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe, validate
    from pdegen.schema import RecipeError
    from pdegen.store import open_dataset
    from pdegen.verify import verify_store
    recipe = small_recipe(tmp_path, **{"family": "navier_stokes", "parameters": None, "samples": 3,
                                       "grid.shape": [24, 24], "boundary": {"kind": "periodic"}, "solver": None,
                                       "discretization": {"t_end": 4.0, "steps": 4}})
    plan = make_plan(validate(recipe))
    assert (plan.method, plan.backend) == ("none", "numpy")
    assert "no linear systems" in plan.describe()
    path = write_recipe(tmp_path, recipe)
    result = CliRunner().invoke(main, ["build", str(path), "-q"])
    assert result.exit_code == 0, result.output
    with open_dataset(tmp_path / "tiny.zarr") as ds:
        assert ds["stats/converged"][:].all() and (ds["stats/iterations"][:] == 0).all()
        assert (ds["stats/seconds"][:] > 0).all()
        assert np.isfinite(ds["outputs/solution"][:]).all()
    report = verify_store(tmp_path / "tiny.zarr")
    assert report.ok and report.checked == 3 and report.finer == 3, report.problems
    assert 0 < report.worst_finer < 1e-6  # float32 rounding and RK4's error at CFL 0.5
    zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")["outputs/solution"][1, 2] *= 1.01
    report = verify_store(tmp_path / "tiny.zarr")
    assert report.problems and "stored state 3 of 4 differs from the sample integrated again with half the " \
        "Courant number" in report.problems[0], report.problems
    info = CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr")])
    assert "solver     none (no linear systems)" in info.output and "rtol" not in info.output, info.output
    with pytest.raises(RecipeError, match="solver.method: 'cg' has nothing to solve: discretization.scheme "
                                          "'pseudo-spectral' solves no linear systems"):
        validate({**recipe, "solver": {"method": "cg"}})
    bench = CliRunner().invoke(main, ["bench", str(path)])
    assert bench.exit_code == 2 and "nothing to compare" in bench.output, bench.output
    with pytest.raises(ValueError, match="nothing to compare"):
        run_bench(load_recipe(path))


def test_a_stop_ends_a_pseudo_spectral_build_between_two_states_and_resume_redoes_the_sample(tmp_path, monkeypatch):
    """A scheme that never calls solve is stopped between its stored states (a 256² sample
    takes minutes): asked during the 2nd sample, after its 2nd of 4 states, the build
    integrates no further state, keeps sample 1, and --resume gives the store an
    uninterrupted build gives, bit for bit."""
    from pdegen import build as build_module
    from pdegen.recipe import load_recipe
    from pdegen.store import open_dataset
    recipe = small_recipe(tmp_path, **{"family": "navier_stokes", "parameters": None, "samples": 3, "solver": None,
                                       "grid.shape": [16, 16], "boundary": {"kind": "periodic"},
                                       "output.chunk_samples": 3, "discretization": {"t_end": 2.0, "steps": 4}})
    path = write_recipe(tmp_path, recipe)
    check, states, checks = build_module._Segment.stop_if_asked, ns.NavierStokes._spectral_states, [0]
    integrated = [0]

    def counting(self, *args):
        for state in states(self, *args):
            integrated[0] += 1
            yield state

    def stop_in_the_second_sample(self):
        checks[0] += 1  # 1 before each sample, 1 after each of its 4 states
        self.stop.requested = self.stop.requested or checks[0] == 5 + 1 + 2
        return check(self)
    monkeypatch.setattr(ns.NavierStokes, "_spectral_states", counting)
    monkeypatch.setattr(build_module._Segment, "stop_if_asked", stop_in_the_second_sample)
    with pytest.raises(KeyboardInterrupt):
        build_module.build(load_recipe(path), quiet=True)
    monkeypatch.undo()
    assert integrated[0] == 4 + 2
    with open_dataset(tmp_path / "tiny.zarr") as ds:
        assert ds["done"][:].tolist() == [True, False, False]
    with resumed_beside_uninterrupted(tmp_path, path, recipe, already_done=1) as (a, b):
        assert np.array_equal(a["outputs/solution"][:], b["outputs/solution"][:])


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_a_pseudo_spectral_build_on_two_ranks_is_the_serial_one(tmp_path):
    """The samples shared by two processes (no PETSc: the plan has no solver) give the
    serial store bit for bit: each sample is integrated the same way wherever it runs."""
    import subprocess
    import sys
    from pdegen.store import open_dataset
    stores = {}
    for ranks in (1, 2):
        recipe = small_recipe(tmp_path, **{"family": "navier_stokes", "parameters": None, "samples": 5, "solver": None,
                                           "grid.shape": [16, 16], "boundary": {"kind": "periodic"},
                                           "output.chunk_samples": 2, "output.path": str(tmp_path / f"p{ranks}.zarr"),
                                           "discretization": {"t_end": 2.0, "steps": 4}})
        path = write_recipe(tmp_path, recipe, f"p{ranks}.yaml")
        subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build", str(path), "-q"],
                       check=True, timeout=180, env=mpi_env())
        stores[ranks] = open_dataset(tmp_path / f"p{ranks}.zarr")
    one, two = stores[1], stores[2]
    assert two.attrs["summary"]["processes"] == 2 and two["done"][:].all()
    for name in ("sample_id", "inputs/initial", "outputs/solution"):
        assert np.array_equal(one[name][:], two[name][:]), name
