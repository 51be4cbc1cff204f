"""`pdegen export --to well`: a store's trajectories as The Well's HDF5 data set."""

import h5py
import numpy as np
import pytest
import yaml
import zarr
from click.testing import CliRunner

from conftest import built_store, small_recipe
from pdegen.cli import main
from pdegen.store import open_dataset
from pdegen.export import ExportError
from pdegen.export.well import boundary_kinds, export_well


def heat_recipe(tmp_path, **changes) -> dict:
    """10 heat trajectories on 16² (6 states with t = 0), a drawn scalar forcing and a
    coefficient field that stays constant in time."""
    recipe = {"name": "heatw", "family": "heat", "grid": {"shape": [16, 16]}, "samples": 10, "seed": 3,
              "parameters": {"coefficient": {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
                             "initial": {"dist": "grf", "alpha": 2.5, "tau": 7.0},
                             "forcing": {"dist": "uniform", "low": 0.0, "high": 1.0}},
              "discretization": {"t_end": 0.1, "steps": 10, "save_every": 2},
              "solver": {"backend": "numpy"},
              "output": {"path": str(tmp_path / "heatw.zarr"), "chunk_samples": 4}}
    recipe.update(changes)
    return recipe


@pytest.fixture(scope="module")
def heat_export(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("well")
    store = built_store(tmp_path, heat_recipe(tmp_path))
    summary = export_well(store, tmp_path / "heatw_well")
    return store, tmp_path / "heatw_well", summary


def split_file(out, split: str, name: str = "heatw"):
    return h5py.File(out / "data" / split / f"{name}.hdf5", "r")


def test_each_split_holds_its_samples_with_the_initial_state_first(heat_export):
    store, out, summary = heat_export
    with open_dataset(store) as ds:
        ids, rows = ds["sample_id"][:], {int(sample): row for row, sample in enumerate(ds["sample_id"][:])}
        exported = []
        for split, well_split in (("train", "train"), ("val", "valid"), ("test", "test")):
            expected_ids = np.sort(ids[ds.split_mask(split)])
            with split_file(out, well_split) as f:
                assert f.attrs["n_trajectories"] == expected_ids.size == summary.trajectories[well_split]
                assert np.array_equal(f["pdegen/sample_id"][:], expected_ids)
                assert np.allclose(f["dimensions/time"][:], np.concatenate([[0.0], ds["coords/t"][:]]))
                assert list(f["t0_fields"].attrs["field_names"]) == ["solution", "coefficient"]  # not "initial"
                for index, sample in enumerate(expected_ids):
                    row = rows[int(sample)]
                    trajectory = f["t0_fields/solution"][index]
                    assert trajectory.shape == (6, 16, 16)
                    assert np.array_equal(trajectory[0], ds["inputs/initial"][row])
                    assert np.array_equal(trajectory[1:], ds["outputs/solution"][row])
                    assert np.array_equal(f["t0_fields/coefficient"][index], ds["inputs/coefficient"][row])
                    assert f["scalars/forcing"][index] == np.float32(ds["params/forcing"][row])
                exported += list(f["pdegen/sample_id"][:])
        assert sorted(exported) == sorted(ids)  # every sample exactly once


def test_stats_are_the_train_splits_moments(heat_export):
    _, out, _ = heat_export
    stats = yaml.safe_load((out / "stats.yaml").read_text())
    with split_file(out, "train") as f:
        solution = f["t0_fields/solution"][:].astype(np.float64)
        coefficient = f["t0_fields/coefficient"][:].astype(np.float64)
    delta = np.diff(solution, axis=1)
    for name, values in (("solution", solution), ("coefficient", coefficient)):
        assert np.isclose(stats["mean"][name], values.mean(), rtol=1e-12, atol=1e-15)
        assert np.isclose(stats["std"][name], values.std(), rtol=1e-12)
        assert np.isclose(stats["rms"][name], np.sqrt((values**2).mean()), rtol=1e-12)
    assert np.isclose(stats["mean_delta"]["solution"], delta.mean(), rtol=1e-10, atol=1e-15)
    assert np.isclose(stats["std_delta"]["solution"], delta.std(), rtol=1e-12)
    assert "coefficient" not in stats["mean_delta"]  # constant in time


def test_the_wells_own_reader_loads_the_export(heat_export):
    the_well = pytest.importorskip("the_well.data")
    from the_well.data.normalization import ZScoreNormalization
    _, out, summary = heat_export
    stats = yaml.safe_load((out / "stats.yaml").read_text())
    plain = the_well.WellDataset(path=str(out), well_split_name="train", n_steps_input=2, n_steps_output=1)
    scaled = the_well.WellDataset(path=str(out), well_split_name="train", n_steps_input=2, n_steps_output=1,
                                  use_normalization=True, normalization_type=ZScoreNormalization)
    windows = 6 - 3 + 1  # of 2 + 1 states in a 6-state trajectory
    assert len(plain) == len(scaled) == summary.trajectories["train"] * windows
    assert plain.metadata.constant_field_names[0] == ["coefficient"]
    assert plain.metadata.constant_scalar_names == ["forcing"]
    with split_file(out, "train") as f:
        solution, coefficient = f["t0_fields/solution"][:], f["t0_fields/coefficient"][:]
    for index in (0, windows + 2, len(plain) - 1):
        trajectory, start = divmod(index, windows)
        item = plain[index]
        assert np.array_equal(item["input_fields"][..., 0].numpy(), solution[trajectory, start:start + 2])
        assert np.array_equal(item["output_fields"][..., 0].numpy(), solution[trajectory, start + 2:start + 3])
        assert np.array_equal(item["constant_fields"][..., 0].numpy(), coefficient[trajectory])
        assert (item["boundary_conditions"] == 0).all()  # WALL on every face: Dirichlet
        normalised = scaled[index]["input_fields"][..., 0].numpy()
        expected = (solution[trajectory, start:start + 2] - stats["mean"]["solution"]) / stats["std"]["solution"]
        assert np.allclose(normalised, expected, rtol=1e-5, atol=1e-5)


def test_two_components_start_from_their_coarsened_initial_states(tmp_path):
    recipe = {"name": "fhn", "family": "diffusion_reaction", "grid": {"shape": [12, 12], "extent": [[-1, 1], [-1, 1]]},
              "samples": 4, "seed": 5, "discretization": {"t_end": 1.0, "steps": 20, "save_every": 5},
              "solver": {"backend": "numpy"}, "output": {"path": str(tmp_path / "fhn.zarr"), "coarsen": 2}}
    store = built_store(tmp_path, recipe)
    export_well(store, tmp_path / "fhn_well")
    with open_dataset(store) as ds, split_file(tmp_path / "fhn_well", "train", "fhn") as f:
        assert list(f["t0_fields"].attrs["field_names"]) == ["u", "v"]
        rows = {int(sample): row for row, sample in enumerate(ds["sample_id"][:])}
        for index, sample in enumerate(f["pdegen/sample_id"][:]):
            row = rows[int(sample)]
            for name in ("u", "v"):
                trajectory = f[f"t0_fields/{name}"][index]
                assert trajectory.shape == (5, 6, 6)  # t = 0 and 4 stored states, on the 6² store grid
                assert np.allclose(trajectory[0], ds[f"inputs/initial_{name}"][row], rtol=1e-6, atol=1e-7)
                assert np.array_equal(trajectory[1:], ds[f"outputs/{name}"][row])
        kinds = sorted(f["boundary_conditions"][name].attrs["bc_type"] for name in f["boundary_conditions"])
        assert kinds == ["wall"] * 4  # no-flux walls


def test_boundary_kinds_follow_the_faces():
    def recipe(family, boundary):
        return {"family": family, "grid": {"shape": [8, 8]}, "boundary": boundary}
    assert boundary_kinds(recipe("heat", {"kind": "periodic"})) == ["periodic"] * 4
    assert boundary_kinds(recipe("heat", {"kind": "neumann", "faces": {"x_low": {"kind": "dirichlet"}}})) == \
        ["wall"] * 4
    # with a flow, Neumann faces are outflow faces and inflow faces let fluid in: both open
    assert boundary_kinds(recipe("transport", {"kind": "periodic", "faces": {
        "x_low": {"kind": "inflow"}, "x_high": {"kind": "neumann"}}})) == ["open", "open", "periodic", "periodic"]


def test_failed_samples_are_left_out(tmp_path):
    store = built_store(tmp_path, heat_recipe(tmp_path))
    group = zarr.open_group(store, mode="r+")
    converged = group["stats/converged"][:]
    converged[3] = False
    group["stats/converged"][:] = converged
    failed = int(group["sample_id"][3])
    summary = export_well(store, tmp_path / "out")
    assert summary.left_out == [failed] and sum(summary.trajectories.values()) == 9
    for split in ("train", "valid", "test"):
        with split_file(tmp_path / "out", split) as f:
            assert failed not in f["pdegen/sample_id"][:]


def test_refusals_name_the_problem_and_leave_nothing(tmp_path, monkeypatch):
    darcy = small_recipe(tmp_path)
    built_store(tmp_path, darcy)
    with pytest.raises(ExportError, match="darcy is steady"):
        export_well(darcy["output"]["path"], tmp_path / "darcy_well")
    store = built_store(tmp_path, heat_recipe(tmp_path))
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="already exists; pass --overwrite"):
        export_well(store, tmp_path / "taken")
    (tmp_path / "taken" / "notes.txt").write_text("mine")  # --overwrite deletes an earlier export, nothing else
    for taken in (tmp_path / "taken", tmp_path / "taken" / "notes.txt", store):
        with pytest.raises(ExportError, match="is not an export of The Well's layout"):
            export_well(store, taken, overwrite=True)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine" and (tmp_path / "heatw.zarr").is_dir()

    import pdegen.export.well

    def broken(*args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(pdegen.export.well, "_initial_states", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_well(store, tmp_path / "half")
    assert not (tmp_path / "half").exists() and not list(tmp_path.glob(".half*"))
    monkeypatch.undo()

    group = zarr.open_group(store, mode="r+")
    done = group["done"][:]
    done[5] = False
    group["done"][:] = done
    with pytest.raises(ExportError, match="only 9 of 10 samples are done"):
        export_well(store, tmp_path / "later")


def test_cli_exports_and_exits_2_on_refusal(tmp_path):
    store = built_store(tmp_path, heat_recipe(tmp_path))
    result = CliRunner().invoke(main, ["export", store, str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0 and "train 8, valid 1, test 1 trajectories of 6 states" in result.output, \
        result.output
    result = CliRunner().invoke(main, ["export", store, str(tmp_path / "w"), "-q"])
    assert result.exit_code == 2 and "already exists" in result.output
    result = CliRunner().invoke(main, ["export", store, str(tmp_path / "w"), "-q", "--overwrite"])
    assert result.exit_code == 0, result.output


def test_navier_stokes_exports_its_velocity_as_a_vector_field(tmp_path):
    """The velocity of every exported vorticity state (t = 0 included) as ``t1_fields``, per-
    component statistics, and The Well's reader taking its two components as channels."""
    from pdegen.families import spectral
    recipe = small_recipe(tmp_path, **{"name": "ns", "family": "navier_stokes", "parameters": None, "samples": 5,
                                       "grid.shape": [16, 16], "boundary": {"kind": "periodic"}, "solver": None,
                                       "discretization": {"t_end": 3.0, "steps": 3}})
    store = built_store(tmp_path, recipe)
    out = tmp_path / "datasets" / "ns"  # where neuraloperator's TheWellDataset looks for a data set named ns
    out.parent.mkdir()
    summary = export_well(store, out)
    assert summary.fields == ["solution", "velocity"]
    with split_file(out, "train", "ns") as f:
        assert list(f["t1_fields"].attrs["field_names"]) == ["velocity"]
        omega, velocity = f["t0_fields/solution"][:], f["t1_fields/velocity"][:]
    assert velocity.shape == (omega.shape[0], 4, 16, 16, 2)
    for trajectory in range(omega.shape[0]):
        for t in range(4):
            exact = spectral.velocity(omega[trajectory, t].astype(np.float64), (1.0, 1.0))
            assert np.abs(np.moveaxis(velocity[trajectory, t], -1, 0) - exact).max() < 1e-6 * np.abs(exact).max()
    stats = yaml.safe_load((out / "stats.yaml").read_text())
    for c in range(2):
        component = velocity[..., c].astype(np.float64)
        assert np.isclose(stats["mean"]["velocity"][c], component.mean(), rtol=1e-10, atol=1e-12)
        assert np.isclose(stats["std"]["velocity"][c], component.std(), rtol=1e-10)
        assert np.isclose(stats["std_delta"]["velocity"][c], np.diff(component, axis=1).std(), rtol=1e-10)

    the_well = pytest.importorskip("the_well.data")
    ds = the_well.WellDataset(path=str(out), well_split_name="train", n_steps_input=1, n_steps_output=1)
    assert ds.metadata.field_names[1] == ["velocity_x", "velocity_y"]
    item = ds[1]  # trajectory 0, states 1 and 2
    assert np.array_equal(item["input_fields"][0, ..., 0].numpy(), omega[0, 1])
    assert np.array_equal(item["input_fields"][0, ..., 1:].numpy(), velocity[0, 1])
    assert (item["boundary_conditions"] == 2).all()  # PERIODIC

    # neuraloperator's loader of The Well's data sets (pdegen[train]) reads it from its root too
    neuralop_well = pytest.importorskip("neuralop.data.datasets.the_well_dataset")
    loaded = neuralop_well.TheWellDataset(root_dir=tmp_path, well_dataset_name="ns", download=False,
                                          n_steps_input=2, n_steps_output=1)
    assert len(loaded.train_db) == summary.trajectories["train"] * (4 - 3 + 1)
    assert np.array_equal(loaded.train_db[0]["input_fields"][..., 1:].numpy(), velocity[0, :2])


def test_an_hdf5_store_exports_the_same_trajectories(tmp_path):
    recipe = heat_recipe(tmp_path, samples=6)
    recipe["output"] = {**recipe["output"], "path": str(tmp_path / "heatw.h5"), "format": "hdf5"}
    store = built_store(tmp_path, recipe)
    summary = export_well(store, tmp_path / "from_h5")
    assert sum(summary.trajectories.values()) == 6
    with open_dataset(store) as ds, split_file(tmp_path / "from_h5", "train") as f:
        rows = {int(sample): row for row, sample in enumerate(ds["sample_id"][:])}
        for index, sample in enumerate(f["pdegen/sample_id"][:]):
            assert np.array_equal(f["t0_fields/solution"][index, 1:], ds["outputs/solution"][rows[int(sample)]])
            assert np.array_equal(f["t0_fields/solution"][index, 0], ds["inputs/initial"][rows[int(sample)]])
