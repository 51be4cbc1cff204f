"""`pdegen build --extend`: growing a finished store, its rows untouched, each new sample once."""

import subprocess
import sys

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from conftest import mpi_env, mpiexec, needs_petsc, small_recipe, write_recipe
from pdegen.build import draw_values
from pdegen.cli import main
from pdegen.families import get_family
from pdegen.fields import split_rng
from pdegen.recipe import load_recipe
from pdegen.store import open_dataset
from pdegen.store.layout import assign_splits
from pdegen.verify import verify_store

DARCY = get_family("darcy")


def ordered_recipe(tmp_path, name="grow.zarr", **changes) -> dict:
    """10 Darcy samples in greedy order, GCRO-DR on the numpy backend (warm starts and a
    recycle space carried from sample to sample), 3 per chunk: 10 ends mid-chunk."""
    return small_recipe(tmp_path, **{"samples": 10, "output.chunk_samples": 3, "ordering.method": "greedy",
                                     "solver.method": "gcrodr", "output.path": str(tmp_path / name), **changes})


def run(*args):
    return CliRunner().invoke(main, ["build", *map(str, args)])


def snapshot(path) -> dict:
    group = zarr.open_group(str(path), mode="r")
    return {name: node[:] for name, node in group.members(max_depth=None) if isinstance(node, zarr.Array)}


def extend_and_stop(monkeypatch, path, samples: int, before: int) -> None:
    """Extend the store of the recipe at ``path`` to ``samples``, stopped (as by Ctrl-C)
    before the ``before``-th new sample."""
    from pdegen import build as build_module
    solve_row, calls = build_module._Segment._solve_row, [0]

    def stop_on_time(self, *args):
        calls[0] += 1
        self.stop.requested = calls[0] == before
        return solve_row(self, *args)
    monkeypatch.setattr(build_module._Segment, "_solve_row", stop_on_time)
    with pytest.raises(KeyboardInterrupt):
        build_module.build(load_recipe(path, [f"samples={samples}"]), extend=True, quiet=True)
    monkeypatch.undo()


def test_an_extension_keeps_every_row_and_adds_each_new_sample_once(tmp_path):
    recipe = ordered_recipe(tmp_path)
    path = write_recipe(tmp_path, recipe)
    assert run(path, "-q").exit_code == 0
    before = snapshot(tmp_path / "grow.zarr")
    result = run(path, "--samples", 17, "--extend")
    assert result.exit_code == 0 and "7 samples solved" in result.output, result.output
    after = snapshot(tmp_path / "grow.zarr")
    for name, values in before.items():  # the 10 rows there, every array, bit for bit
        if name.startswith("coords/"):
            assert np.array_equal(after[name], values), name
        else:
            assert after[name].shape[0] == 17 and np.array_equal(after[name][:10], values, equal_nan=True), name
    new_ids = after["sample_id"][10:]
    assert sorted(new_ids) == list(range(10, 17)) and after["done"].all()
    # the new samples' splits: exact counts for their own batch, from their own generator
    expected = assign_splits(7, recipe.get("split", {"train": 0.8, "val": 0.1, "test": 0.1}), split_rng(7, 10))
    assert np.array_equal(after["split"][10:], expected[new_ids - 10])
    with open_dataset(tmp_path / "grow.zarr") as ds:
        assert ds.attrs["batches"] == [10, 17] and ds.attrs["recipe"]["samples"] == 17
        assert ds.attrs["status"] == "complete" and ds.attrs["extended"][0]["from"] == 10
        valid = load_recipe(path, ["samples=17"]).data
        for row in range(10, 17):  # each new sample is the draw of its id, as a 17-sample build would draw it
            sample = int(ds["sample_id"][row])
            assert np.array_equal(ds["inputs/coefficient"][row],
                                  draw_values(valid, DARCY, sample)["coefficient"].astype(np.float32))
        train = ds.split_mask("train") & ds["stats/converged"][:]
        for field in ("inputs/coefficient", "outputs/solution"):  # statistics over every train row, old and new
            values = ds[field][:][train].astype(np.float64)
            stats = ds.attrs["normalization"][field]
            assert stats["count"] == values.size and np.isclose(stats["mean"], values.mean(), rtol=1e-10)
            assert np.isclose(stats["std"], values.std(), rtol=1e-9)
    assert verify_store(tmp_path / "grow.zarr").ok
    result = run(path, "--samples", 17, "--resume")  # a finished extension: nothing to do, nothing changed
    assert result.exit_code == 0 and "0 samples solved (7 already done)" in result.output, result.output
    with open_dataset(tmp_path / "grow.zarr") as ds:
        assert ds.attrs["normalization"]["outputs/solution"] == stats
    assert run(path, "--samples", 20, "--extend", "-q").exit_code == 0  # and again
    with open_dataset(tmp_path / "grow.zarr") as ds:
        assert ds.attrs["batches"] == [10, 17, 20] and sorted(ds["sample_id"][:]) == list(range(20))
    info = CliRunner().invoke(main, ["info", str(tmp_path / "grow.zarr")]).output
    assert "  grown      10 -> 17 -> 20 samples" in info


def test_an_extension_stopped_part_way_resumes_to_the_same_store(tmp_path, monkeypatch):
    recipe = ordered_recipe(tmp_path)
    path = write_recipe(tmp_path, recipe)
    assert run(path, "-q").exit_code == 0
    old = snapshot(tmp_path / "grow.zarr")
    extend_and_stop(monkeypatch, path, samples=18, before=5)
    with open_dataset(tmp_path / "grow.zarr") as ds:
        assert ds["done"][:].tolist() == [True] * 14 + [False] * 4 and ds.attrs["status"] == "building"
    assert run(path, "--samples", 18, "--extend").exit_code == 2  # unfinished: resume it
    result = run(path, "--samples", 18, "--resume")
    assert result.exit_code == 0 and "4 samples solved (4 already done)" in result.output, result.output
    uninterrupted = ordered_recipe(tmp_path, "whole.zarr")
    other = write_recipe(tmp_path, uninterrupted, "other.yaml")
    assert run(other, "-q").exit_code == 0 and run(other, "--samples", 18, "--extend", "-q").exit_code == 0
    with open_dataset(tmp_path / "grow.zarr") as a, open_dataset(tmp_path / "whole.zarr") as b:
        assert np.array_equal(a["sample_id"][:], b["sample_id"][:]) and np.array_equal(a["split"][:], b["split"][:])
        assert np.array_equal(a["sample_id"][:10], old["sample_id"])
        ua, ub = a["outputs/solution"][:].astype(float), b["outputs/solution"][:].astype(float)
        assert np.abs(ua - ub).max() <= 1e-5 * np.abs(ub).max()
        assert a.attrs["normalization"]["outputs/solution"]["count"] == b.attrs["normalization"]["outputs/solution"][
            "count"]


def test_what_cannot_be_extended_is_refused_with_the_reason(tmp_path):
    recipe = ordered_recipe(tmp_path)
    path = write_recipe(tmp_path, recipe)
    result = run(path, "--samples", 12, "--extend")
    assert result.exit_code == 2 and "no store there" in result.output
    assert run(path, "-q").exit_code == 0
    for args, says in ((["--samples", 10], "is not more than the 10"),
                       (["--samples", 12, "--seed", 8], "differs in: seed"),
                       (["--samples", 12, "--resume"], "exclude each other")):
        result = run(path, "--extend", *args)
        assert result.exit_code == 2 and says in result.output, result.output
    with open_dataset(tmp_path / "grow.zarr") as ds:
        assert ds["done"].shape == (10,)  # nothing was changed by a refusal


def test_an_hdf5_store_extends_in_its_one_file(tmp_path, monkeypatch):
    """A single-file HDF5 store is written with resizable per-sample datasets: it grows as a
    Zarr store does, its rows untouched, and a stopped extension resumes the same way."""
    import h5py
    recipe = ordered_recipe(tmp_path, "grow.h5", **{"output.format": "hdf5"})
    path = write_recipe(tmp_path, recipe)
    assert run(path, "-q").exit_code == 0
    with h5py.File(tmp_path / "grow.h5", "r") as f:
        before = {name: f[name][:] for name in ("sample_id", "split", "inputs/coefficient", "outputs/solution")}
    extend_and_stop(monkeypatch, path, samples=16, before=3)
    result = run(path, "--samples", 16, "--resume")
    assert result.exit_code == 0 and "4 samples solved (2 already done)" in result.output, result.output
    with open_dataset(tmp_path / "grow.h5") as ds:
        for name, values in before.items():
            assert ds[name].shape[0] == 16 and np.array_equal(ds[name][:10], values), name
        assert sorted(ds["sample_id"][10:]) == list(range(10, 16)) and ds.attrs["batches"] == [10, 16]
    assert verify_store(tmp_path / "grow.h5").ok


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_an_hdf5_store_in_part_files_is_not_extended(tmp_path):
    recipe = ordered_recipe(tmp_path, "parts.h5", **{"output.format": "hdf5", "solver.backend": "petsc"})
    path = write_recipe(tmp_path, recipe)
    subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "pdegen.cli", "build", str(path), "-q"], check=True,
                   timeout=180, env=mpi_env())
    result = run(path, "--samples", 12, "--extend")
    assert result.exit_code == 2 and "has a fixed size (written in part files" in result.output, result.output
    with open_dataset(tmp_path / "parts.h5") as ds:
        assert ds["done"].shape == (10,)


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_an_extension_under_mpi_shares_only_the_new_rows(tmp_path):
    """Two process groups extend 10 samples to 23 with 3 per chunk: the new rows are cut at
    the chunk boundaries from row 10 on (10-11 and 12-14 to the first group, 15-22 to the
    second), every new sample once, the old rows untouched."""
    from pdegen.ordering import segments
    assert segments(23, 2, 3, start=10) == [(10, 15), (15, 23)]
    recipe = ordered_recipe(tmp_path, **{"solver.backend": "petsc"})
    path = write_recipe(tmp_path, recipe)
    assert run(path, "-q").exit_code == 0
    before = snapshot(tmp_path / "grow.zarr")
    subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "pdegen.cli", "build", str(path), "--samples", "23",
                    "--extend", "-q"], check=True, timeout=180, env=mpi_env())
    after = snapshot(tmp_path / "grow.zarr")
    assert np.array_equal(after["outputs/solution"][:10], before["outputs/solution"])
    assert sorted(after["sample_id"][10:]) == list(range(10, 23)) and after["done"].all()
    assert verify_store(tmp_path / "grow.zarr").ok


def test_a_sharded_store_extends_within_its_last_shard(tmp_path):
    """3 samples per chunk, 6 per shard: 10 ends inside a shard, which the extension fills
    (zarr rewrites the shard with the rows there kept)."""
    recipe = ordered_recipe(tmp_path, **{"output.shard_samples": 6})
    path = write_recipe(tmp_path, recipe)
    assert run(path, "-q").exit_code == 0
    before = snapshot(tmp_path / "grow.zarr")
    assert run(path, "--samples", 15, "--extend", "-q").exit_code == 0
    after = snapshot(tmp_path / "grow.zarr")
    for name in ("sample_id", "split", "inputs/coefficient", "outputs/solution", "stats/residual"):
        assert np.array_equal(after[name][:10], before[name]), name
    assert sorted(after["sample_id"][10:]) == list(range(10, 15))
    assert verify_store(tmp_path / "grow.zarr").ok
