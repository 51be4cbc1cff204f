"""pdegen verify: clean stores pass; corrupted solutions, inputs, NaNs, unwritten rows fail."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from conftest import mpi_env, mpiexec, small_recipe, write_recipe
from pdegen.cli import main
from pdegen.verify import verify_store


def build(tmp_path, fmt="zarr", **changes):
    suffix = {"zarr": "zarr", "hdf5": "h5"}[fmt]
    recipe = small_recipe(tmp_path, **{"output.format": fmt, "output.path": str(tmp_path / f"s.{suffix}"),
                                       **changes})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / f"s.{suffix}"


def open_rw(store):
    return zarr.open_group(str(store), mode="r+") if store.suffix == ".zarr" else h5py.File(store, "r+")


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_clean_store_verifies(tmp_path, fmt):
    store = build(tmp_path, fmt)
    report = verify_store(store)
    assert report.ok and report.checked == 8, report.problems
    result = CliRunner().invoke(main, ["verify", str(store)])
    assert result.exit_code == 0 and "8 samples checked" in result.output
    # float32 solutions miss rtol 1e-8 by their rounding: the summary says what was allowed.
    assert report.worst_residual > 1e-8 and report.rounding > report.worst_residual
    assert f"(allowed: rtol 1.0e-08 + {report.rounding:.1e} for the float32 rounding" in result.output


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_corrupted_solution_is_caught(tmp_path, fmt):
    store = build(tmp_path, fmt)
    handle = open_rw(store)
    u = handle["outputs/solution"][5]
    u[7, 7] *= 1.01  # a 1% error in one cell
    handle["outputs/solution"][5] = u
    if fmt == "hdf5":
        handle.close()
    report = verify_store(store)
    assert len(report.problems) == 1 and report.problems[0].startswith("row 5") and "exceeds rtol" in \
        report.problems[0]
    result = CliRunner().invoke(main, ["verify", str(store)])
    assert result.exit_code == 1 and "row 5" in result.output


def test_float64_store_is_held_to_rtol_itself(tmp_path):
    store = build(tmp_path, **{"output.dtype": "float64"})
    report = verify_store(store)
    assert report.ok and report.worst_residual <= 1e-8 and "allowed" not in report.summary()
    handle = open_rw(store)
    u = handle["outputs/solution"][2]
    u[3, 3] *= 1 + 1e-7  # invisible in float32, caught in float64
    handle["outputs/solution"][2] = u
    assert [p[:5] for p in verify_store(store).problems] == ["row 2"]


def test_nan_inputs_and_unwritten_rows_are_caught(tmp_path):
    store = build(tmp_path)
    handle = open_rw(store)
    u = handle["outputs/solution"][1]
    u[0, 0] = np.nan
    handle["outputs/solution"][1] = u
    a = handle["inputs/coefficient"][3]
    a[2, 2] += 0.5
    handle["inputs/coefficient"][3] = a
    done = handle["done"][:]
    done[6] = False
    handle["done"][:] = done
    problems = verify_store(store).problems
    assert any(p.startswith("row 1") and "NaN" in p for p in problems)
    assert any(p.startswith("row 3") and "differs from a fresh draw" in p for p in problems)
    assert "row 6: not written (1 of 8 rows; done is false)" in "\n".join(problems)
    done[[0, 1, 2, 4]] = False  # an interrupted build: runs of rows, named in one line
    handle["done"][:] = done
    unwritten = [p for p in verify_store(store).problems if "not written" in p]
    assert unwritten == ["rows 0-2, 4, 6: not written (5 of 8 rows; done is false): resume the build with "
                         "pdegen build RECIPE --resume"]


def test_failed_samples_are_reported(tmp_path):
    store = tmp_path / "s.zarr"
    recipe = small_recipe(tmp_path, **{"solver.method": "gmres", "solver.maxiter": 1, "solver.fallback": False,
                                       "output.path": str(store), "samples": 3})
    CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    report = verify_store(store)
    assert len(report.problems) == 3 and all("recorded as failed" in p for p in report.problems)


def test_subset(tmp_path):
    store = build(tmp_path, samples=12)
    assert verify_store(store, samples=5).checked == 5


@pytest.mark.parametrize("family", ["heat", "fisher_kpp", "wave", "burgers"])
def test_trajectories_stored_in_strides_are_integrated_again(tmp_path, family):
    """With save_every > 1 a stored state's step system needs the state before it, which
    is not stored: verify integrates the sample again (one sparse LU) and compares every
    stored state, float32 ones within their rounding (6e-8 of the largest |value|); a 1%
    change of one value is found, and said which state it is in. (Before, verify said
    it checked no residual, and had printed "worst residual 0.00e+00".)"""
    changes = {"family": family, "parameters": None, "samples": 4, "boundary": None,
               "discretization": {"steps": 10, "save_every": 5, "t_end": 0.5}}
    if family == "burgers":
        changes["grid"] = {"shape": [64]}
    store = build(tmp_path, **changes)
    report = verify_store(store)
    assert report.ok and report.checked == 4 and report.reintegrated == 4 and report.residuals == 0, report.problems
    assert 0 < report.worst_difference <= 1.2e-7
    assert "worst residual" not in report.summary() and "4 trajectories stored every" in report.summary()
    handle = open_rw(store)
    u = handle["outputs/solution"][2]
    index = (1, *np.unravel_index(np.argmax(np.abs(u[1])), u.shape[1:]))
    u[index] *= 1.01
    handle["outputs/solution"][2] = u
    report = verify_store(store)
    assert [p.split(":")[0] for p in report.problems] == ["row 2 (sample 2)"], report.problems
    assert "stored state 2 of 2 differs from the sample integrated again by 1.0e-02" in report.problems[0]


@pytest.mark.parametrize("family", ["heat", "allen_cahn", "fisher_kpp", "transport", "wave"])
@pytest.mark.parametrize("step", [0, 1])
def test_rannachers_first_step_is_checked_through_its_unstored_half_step(tmp_path, step, family):
    """The default heat scheme stores the state after its first step's two half steps
    only; verify recomputes the half step and checks the stored state against it (a 1%
    change of one value is found there as after any later step; the intact rows pass).
    The reaction families store every step after a predictor solve too, and transport's
    Rannacher start recomputes a nonsymmetric half step, and the wave's two-step form needs
    the state before the previous one: the same check."""
    discretization = {"steps": 4, "save_every": 1, "t_end": 0.1}
    if family != "wave":  # (the wave has one scheme)
        discretization["scheme"] = "rannacher"
    store = build(tmp_path, **{"family": family, "parameters": None, "samples": 3, "output.dtype": "float64",
                               "boundary": None, "discretization": discretization})
    assert verify_store(store).ok
    handle = open_rw(store)
    u = handle["outputs/solution"][1]
    u[step, 5, 5] *= 1.01
    handle["outputs/solution"][1] = u
    report = verify_store(store)
    assert [p.split(":")[0] for p in report.problems] == ["row 1 (sample 1)"], report.problems
    assert report.worst_residual > 1e-4


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_verify_under_mpi_splits_the_rows_and_reports_once(tmp_path, fmt):
    """mpiexec -n P pdegen verify: each rank checks a block of rows; rank 0 prints the same
    problems as a serial check, once, and every rank exits with its status."""
    store = build(tmp_path, fmt, samples=10)
    handle = open_rw(store)
    for row in (1, 8):  # one in each rank's half
        u = handle["outputs/solution"][row]
        u[4, 4] *= 1.01
        handle["outputs/solution"][row] = u
    done = handle["done"][:]
    done[9] = False
    handle["done"][:] = done
    if fmt == "hdf5":
        handle.close()
    serial = verify_store(store)
    assert [p.split(":")[0] for p in serial.problems] == ["row 9", "row 1 (sample 1)", "row 8 (sample 8)"]
    for ranks in (2, 3):
        result = subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "verify",
                                 str(store)], capture_output=True, text=True, timeout=120,
                                env=mpi_env())
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines() == [f"  {p}" for p in serial.problems]
        assert result.stdout.strip() == serial.summary() and "9 samples checked" in result.stdout
