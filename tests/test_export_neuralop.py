"""`pdegen export --to neuraloperator`: steady samples as neuraloperator's .pt files."""

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import built_store, small_recipe
from pdegen.cli import main
from pdegen.export import ExportError, export
from pdegen.store import open_dataset

torch = pytest.importorskip("torch")


def stored_rows(store, split: str, *paths):
    """The store's ``paths`` at the rows of ``split``, in sample-id order, and those ids."""
    with open_dataset(store) as ds:
        ids = ds["sample_id"][:]
        rows = np.flatnonzero(ds.split_mask(split))
        rows = rows[np.argsort(ids[rows])]
        return [ds[path][:][rows] for path in paths], ids[rows]


def test_darcy_pairs_per_split_in_sample_id_order(tmp_path):
    store = built_store(tmp_path, small_recipe(tmp_path, samples=10))
    summary = export(store, tmp_path / "pt")
    assert summary.squeezed and summary.resolution == "16" and summary.inputs == ["coefficient"]
    assert sorted(p.name for p in (tmp_path / "pt").iterdir()) == ["tiny_test_16.pt", "tiny_train_16.pt",
                                                                    "tiny_val_16.pt"]
    seen = []
    for split in ("train", "val", "test"):
        data = torch.load(tmp_path / "pt" / f"tiny_{split}_16.pt")
        (a, u), ids = stored_rows(store, split, "inputs/coefficient", "outputs/solution")
        assert data["x"].shape == (len(ids), 16, 16) and data["x"].dtype == torch.float32
        assert np.array_equal(data["x"].numpy(), a) and np.array_equal(data["y"].numpy(), u)
        assert np.array_equal(data["sample_id"].numpy(), ids)
        seen += list(ids)
    assert sorted(seen) == list(range(10))


def test_neuraloperators_ptdataset_reads_the_export(tmp_path):
    pt_dataset = pytest.importorskip("neuralop.data.datasets.pt_dataset")
    store = built_store(tmp_path, small_recipe(tmp_path, samples=10))
    summary = export(store, tmp_path / "pt", to="neuraloperator")
    n_train, n_test = summary.samples["train"], summary.samples["test"]
    data = pt_dataset.PTDataset(tmp_path / "pt", "tiny", n_train=n_train, n_tests=[n_test], batch_size=2,
                                test_batch_sizes=[2], train_resolution=16, test_resolutions=[16])
    (a, u), _ = stored_rows(store, "train", "inputs/coefficient", "outputs/solution")
    assert len(data.train_db) == n_train
    for index in range(n_train):
        item = data.train_db[index]
        assert np.array_equal(item["x"][0].numpy(), a[index]) and np.array_equal(item["y"][0].numpy(), u[index])
    (a_test, _), _ = stored_rows(store, "test", "inputs/coefficient", "outputs/solution")
    assert np.array_equal(data.test_dbs[16][0]["x"][0].numpy(), a_test[0])


def test_drawn_scalars_become_constant_channels(tmp_path):
    pt_dataset = pytest.importorskip("neuralop.data.datasets.pt_dataset")
    recipe = small_recipe(tmp_path, samples=10, **{"parameters.forcing": {"dist": "uniform", "low": 0.5, "high": 2.0}})
    store = built_store(tmp_path, recipe)
    summary = export(store, tmp_path / "pt")
    assert not summary.squeezed and summary.inputs == ["coefficient", "forcing"]
    assert "channels_squeezed=False" in summary.line()
    data = torch.load(tmp_path / "pt" / "tiny_train_16.pt")
    (a, f, u), ids = stored_rows(store, "train", "inputs/coefficient", "params/forcing", "outputs/solution")
    assert data["x"].shape == (len(ids), 2, 16, 16) and data["y"].shape == (len(ids), 1, 16, 16)
    assert np.array_equal(data["x"][:, 0].numpy(), a)
    assert np.array_equal(data["x"][:, 1].numpy(), np.broadcast_to(f.astype(np.float32)[:, None, None], a.shape))
    assert data["channels"] == {"x": ["coefficient", "forcing"], "y": ["solution"]}
    loaded = pt_dataset.PTDataset(tmp_path / "pt", "tiny", n_train=len(ids), n_tests=[1], batch_size=2,
                                  test_batch_sizes=[1], train_resolution=16, test_resolutions=[16],
                                  channels_squeezed=False)
    assert loaded.train_db[0]["x"].shape == (2, 16, 16)


def test_layouts_refuse_what_they_cannot_hold(tmp_path):
    heat = small_recipe(tmp_path, **{"family": "heat", "parameters": None, "samples": 4, "grid.shape": [8, 8],
                                     "discretization": {"t_end": 0.1, "steps": 4}})
    store = built_store(tmp_path, heat)
    with pytest.raises(ExportError, match="stores trajectories; export them to The Well's layout"):
        export(store, tmp_path / "pt", to="neuraloperator")
    assert export(store, tmp_path / "auto").steps == 5  # auto: The Well's layout, t = 0 and 4 states
    darcy = small_recipe(tmp_path, **{"output.path": str(tmp_path / "d.zarr")})
    built_store(tmp_path, darcy)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="is not an export of neuraloperator's .pt files"):
        export(darcy["output"]["path"], tmp_path / "mine", overwrite=True)
    result = CliRunner().invoke(main, ["export", darcy["output"]["path"], str(tmp_path / "d_pt"), "-q"])
    assert result.exit_code == 0 and "read with PTDataset(" in result.output, result.output


def test_a_darcy_recipe_exports_what_neuraloperators_darcydataset_reads(tmp_path):
    """A recipe named darcy on one of the grids neuraloperator publishes (16²) lands where its
    DarcyDataset looks (download=False): FNO training code written for that data set runs on
    pdegen's unchanged."""
    darcy_module = pytest.importorskip("neuralop.data.datasets.darcy")
    store = built_store(tmp_path, small_recipe(tmp_path, name="darcy", samples=10))
    summary = export(store, tmp_path / "darcy_pt")
    data = darcy_module.DarcyDataset(tmp_path / "darcy_pt", n_train=summary.samples["train"],
                                     n_tests=[summary.samples["test"]], batch_size=2, test_batch_sizes=[2],
                                     train_resolution=16, test_resolutions=[16], download=False)
    (a, u), _ = stored_rows(store, "train", "inputs/coefficient", "outputs/solution")
    assert np.array_equal(data.train_db[0]["x"][0].numpy(), a[0]) and np.array_equal(data.train_db[0]["y"][0].numpy(),
                                                                                      u[0])
