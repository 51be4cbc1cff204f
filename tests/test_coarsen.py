"""output.coarsen: solve on the recipe's grid, store block means on a coarser one."""

import subprocess
import sys

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from conftest import mpi_env, mpiexec, small_recipe, write_recipe
from pdegen.cli import main
from pdegen.grid import Grid, block_means
from pdegen.recipe import validate
from pdegen.schema import RecipeError
from pdegen.store import open_dataset
from pdegen.verify import verify_store


def build(tmp_path, name, **changes):
    recipe = small_recipe(tmp_path, **{"samples": 12, "grid.shape": [32, 32], "output.path": str(tmp_path / name),
                                       "output.format": "hdf5" if name.endswith(".h5") else "zarr", **changes})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe, f"{name}.yaml")), "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / name


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_a_coarsened_store_holds_the_block_means_of_the_fine_one(tmp_path, fmt):
    """Darcy at 32² stored with coarsen 2 against the same build stored whole: inputs and
    solutions are the fine ones' 2x2 block means (to float32 rounding), on the 16² grid of
    the blocks' centres; the normalisation counts the coarse cells."""
    coarse = build(tmp_path, f"coarse.{fmt}", **{"output.coarsen": 2})
    fine = build(tmp_path, f"fine.{fmt}")
    with open_dataset(coarse) as c, open_dataset(fine) as f:
        assert c.grid_shape == (16, 16) and f.grid_shape == (32, 32)
        for path in ("inputs/coefficient", "outputs/solution"):
            means = block_means(f[path][:].astype(float), 2, 2)
            assert c[path].shape == (12, 16, 16)
            assert np.abs(c[path][:] - means).max() <= 2e-7 * np.abs(means).max(), path
        assert np.allclose(c["coords/x"][:], Grid((16, 16), ((0, 1), (0, 1))).centers[0], rtol=0, atol=1e-15)
        train = int((c["split"][:] == 0).sum())
        assert c.attrs["normalization"]["outputs/solution"]["count"] == train * 16 * 16
    result = CliRunner().invoke(main, ["info", str(coarse)])
    assert "grid 16x16 (solved on 32x32, stored as block means)" in result.output


def test_centre_sampling_keeps_the_fine_values_at_the_coarse_centres(tmp_path):
    """coarsen_by: centre with an odd factor: every stored value is the fine solve's value in
    the block's centre cell, bit for bit (a thresholded coefficient keeps its two values),
    coords are those cells' centres, and verify re-solves within rtol's bound."""
    threshold = {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "threshold", "high": 12.0, "low": 3.0}
    coarse = build(tmp_path, "centre.zarr", **{"grid.shape": [33, 33], "output.coarsen": 3,
                                               "output.coarsen_by": "centre", "parameters.coefficient": threshold})
    fine = build(tmp_path, "whole.zarr", **{"grid.shape": [33, 33], "parameters.coefficient": threshold})
    with open_dataset(coarse) as c, open_dataset(fine) as f:
        for path in ("inputs/coefficient", "outputs/solution"):
            assert np.array_equal(c[path][:], f[path][:][:, 1::3, 1::3]), path
        assert set(np.unique(c["inputs/coefficient"][:])) == {3.0, 12.0}
        assert np.array_equal(c["coords/y"][:], f["coords/y"][:][1::3])
    report = verify_store(coarse)
    assert report.ok and report.resolved == 12 and report.worst_ratio < 1, report.summary()


def test_verify_solves_a_coarsened_store_again_and_catches_a_changed_value(tmp_path):
    """Steady samples are solved again on the fine grid and compared as block means within
    what rtol allows; a trajectory is integrated again. One stored value off by 0.1% (or an
    input off by one float32 step) is found."""
    store = build(tmp_path, "s.zarr", **{"output.coarsen": 4})
    report = verify_store(store)
    assert report.ok and report.resolved == 12 and 0 < report.worst_ratio < 1, report.summary()
    group = zarr.open_group(str(store), mode="r+")
    solution = group["outputs/solution"][5]
    solution[3, 4] *= 1.001
    group["outputs/solution"][5] = solution
    coefficient = group["inputs/coefficient"][7]
    coefficient[0, 0] = np.nextafter(coefficient[0, 0], np.float32(np.inf))
    group["inputs/coefficient"][7] = coefficient
    problems = verify_store(store).problems
    assert len(problems) == 2, problems
    assert "differs from the fine system solved again (coarsened)" in problems[0]
    assert "inputs/coefficient differs from a fresh draw" in problems[1]

    heat = build(tmp_path, "h.zarr", **{"family": "heat", "parameters": None, "samples": 3, "output.coarsen": 2,
                                        "discretization": {"t_end": 0.01, "steps": 4, "save_every": 1}})
    report = verify_store(heat)
    assert report.ok and report.reintegrated == 3, report.summary()
    with open_dataset(heat) as ds:
        assert ds["outputs/solution"].shape == (3, 4, 16, 16)


def test_coarsen_must_divide_the_grid_and_a_resume_must_keep_it(tmp_path):
    base = {"name": "c", "family": "darcy", "grid": {"shape": [48, 40]}, "samples": 2,
            "output": {"path": str(tmp_path / "c.zarr"), "coarsen": 3}}
    with pytest.raises(RecipeError, match=r"output.coarsen: 3 must divide every side of grid.shape \[48, 40\]; "
                                          r"e.g. grid.shape \[48, 39\]"):
        validate(base)
    with pytest.raises(RecipeError, match="output.coarsen_by: 'centre' needs an odd output.coarsen"):
        validate({**base, "grid": {"shape": [48, 40]}, "output": {**base["output"], "coarsen": 2,
                                                                  "coarsen_by": "centre"}})
    store = build(tmp_path, "r.zarr", **{"output.coarsen": 2})
    recipe = small_recipe(tmp_path, **{"samples": 12, "grid.shape": [32, 32], "output.path": str(store),
                                       "output.coarsen": 4})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe, "again.yaml")), "--resume"])
    assert result.exit_code == 2 and "output.coarsen: 2 in the store, 4 now" in result.output, result.output

    # A store written before output.coarsen existed has no such keys in its recipe: not coarsened.
    old = build(tmp_path, "old.zarr")
    group = zarr.open_group(str(old), mode="r+")
    stored = dict(group.attrs["recipe"])
    stored["output"] = {k: v for k, v in stored["output"].items() if k not in ("coarsen", "coarsen_by")}
    group.attrs["recipe"] = stored
    with open_dataset(old) as ds:
        assert ds.grid_shape == (32, 32)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "old.zarr.yaml"), "--resume"])
    assert result.exit_code == 0 and "(12 already done)" in result.output, result.output


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_two_ranks_per_system_store_the_same_block_means(tmp_path):
    """With ranks_per_system 2 the group's leader gathers the solution and averages its
    blocks: the store matches the serial one to the solver tolerance and verifies."""
    serial = build(tmp_path, "serial.zarr", **{"output.coarsen": 2, "solver.backend": "petsc"})
    recipe = small_recipe(tmp_path, **{"samples": 12, "grid.shape": [32, 32], "output.coarsen": 2,
                                       "solver.backend": "petsc", "ranks_per_system": 2,
                                       "output.path": str(tmp_path / "mpi.zarr")})
    path = write_recipe(tmp_path, recipe, "mpi.yaml")
    run = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "pdegen.cli", "build", str(path), "-q"],
                         env=mpi_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    with open_dataset(serial) as a, open_dataset(tmp_path / "mpi.zarr") as b:
        ua = a["outputs/solution"][:][np.argsort(a["sample_id"][:])].astype(float)  # rows in solve order
        ub = b["outputs/solution"][:][np.argsort(b["sample_id"][:])].astype(float)
        assert ub.shape == (12, 16, 16) and np.abs(ua - ub).max() <= 1e-6 * np.abs(ua).max()
    assert verify_store(tmp_path / "mpi.zarr").ok
