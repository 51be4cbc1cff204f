"""Store format v1: layout, round trip, reproducibility, splits, normalisation, refusal to overwrite."""

import json

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import zarr
from click.testing import CliRunner

from conftest import small_recipe, write_recipe
from pdegen.build import build, draw_values, grid_of
from pdegen.cli import main
from pdegen.recipe import load_recipe
from pdegen.store import FORMAT_VERSION, SOLVER_LABELS, open_dataset


def built(tmp_path, name="tiny.zarr", **changes):
    recipe = small_recipe(tmp_path, **changes)
    recipe["output"]["path"] = str(tmp_path / name)
    path = write_recipe(tmp_path, recipe, name=f"{name}.yaml")
    summary = build(load_recipe(path), quiet=True)
    return recipe, summary, tmp_path / name


def test_layout_and_round_trip(tmp_path):
    recipe, summary, store = built(tmp_path, samples=10)
    assert summary.ok and summary.solved == 10
    ds = open_dataset(store)
    assert ds.attrs["format"] == "pdegen" and ds.attrs["format_version"] == FORMAT_VERSION
    assert ds.fields("inputs") == ["inputs/coefficient"]  # forcing is constant: recipe only
    assert ds.fields("outputs") == ["outputs/solution"]
    assert ds.fields("coords") == ["coords/x", "coords/y"]
    for path in ("inputs/coefficient", "outputs/solution"):
        assert ds[path].shape == (10, 16, 16) and ds[path].chunks == (4, 16, 16)
        assert ds[path].dtype == np.float32
    for path in ("stats/iterations", "stats/residual", "stats/seconds", "stats/converged", "stats/solver",
                 "sample_id", "split", "done"):
        assert ds[path].shape == (10,) and ds[path].chunks == (4,)
    assert ds["done"][:].all() and ds["stats/converged"][:].all()
    assert np.allclose(ds["coords/x"][:], (np.arange(16) + 0.5) / 16)
    assert sorted(ds["sample_id"][:]) == list(range(10))
    assert set(ds.solver_names()) == {"direct"}
    assert ds.attrs["recipe"]["samples"] == 10 and "versions" in ds.attrs and ds.attrs["seed"] == 7
    json.dumps(ds.attrs)  # attributes are plain JSON

    # Inputs equal a fresh draw from the seed; outputs solve the system (float32 storage).
    r = ds.recipe()
    from pdegen.families import get_family
    family, grid = get_family("darcy"), grid_of(r.data)
    for row in range(10):
        sid = int(ds["sample_id"][row])
        values = draw_values(r.data, family, sid)
        assert np.array_equal(ds["inputs/coefficient"][row], values["coefficient"].astype(np.float32))
        system = family.assemble(grid, values, r["boundary"])
        reference = spla.spsolve(system.A.tocsc(), system.b)
        stored = ds["outputs/solution"][row].astype(np.float64).ravel()
        assert np.abs(stored - reference).max() <= 1e-6 * np.abs(reference).max()
        assert ds["stats/residual"][row] <= 1e-8


def test_same_recipe_and_seed_give_bitwise_identical_inputs(tmp_path):
    _, _, a = built(tmp_path, "a.zarr")
    _, _, b = built(tmp_path, "b.zarr")
    _, _, c = built(tmp_path, "c.zarr", seed=8)
    A, B, C = (zarr.open_group(str(p), mode="r") for p in (a, b, c))
    assert np.array_equal(A["inputs/coefficient"][:], B["inputs/coefficient"][:])
    assert np.array_equal(A["sample_id"][:], B["sample_id"][:]) and np.array_equal(A["split"][:], B["split"][:])
    assert not np.array_equal(A["inputs/coefficient"][:], C["inputs/coefficient"][:])


def test_float64_and_random_scalar_parameters(tmp_path):
    _, _, store = built(tmp_path, **{"output.dtype": "float64",
                                     "parameters.forcing": {"dist": "uniform", "low": 0.5, "high": 2.0}})
    ds = open_dataset(store)
    assert ds["outputs/solution"].dtype == np.float64
    forcing = ds["params/forcing"][:]
    assert forcing.shape == (8,) and np.all((forcing >= 0.5) & (forcing <= 2.0))
    # The solution is linear in a constant forcing: u / f is the f=1 solution.
    r = ds.recipe().data
    from pdegen.families import get_family
    values = draw_values(r, get_family("darcy"), int(ds["sample_id"][0]))
    assert values["forcing"] == forcing[0]


def test_splits_are_random_by_sample_id_with_exact_fractions(tmp_path):
    _, _, store = built(tmp_path, samples=40, **{"split": {"train": 0.5, "val": 0.25, "test": 0.25}})
    ds = open_dataset(store)
    split = ds["split"][:]
    assert [(split == k).sum() for k in range(3)] == [20, 10, 10]
    ids = ds["sample_id"][:]
    train_ids = np.sort(ids[split == 0])
    assert not np.array_equal(train_ids, np.arange(20))  # not by position or by id prefix
    assert ds.split_mask("train").sum() == 20


def test_normalisation_statistics_match_numpy_over_train_split(tmp_path):
    _, _, store = built(tmp_path, samples=12)
    ds = open_dataset(store)
    train = ds.split_mask("train")
    for path in ("inputs/coefficient", "outputs/solution"):
        values = ds[path][:][train].astype(np.float64)
        stats = ds.attrs["normalization"][path]
        assert abs(stats["mean"] - values.mean()) <= 1e-6 * abs(values.mean())
        assert abs(stats["std"] - values.std()) <= 1e-6 * values.std()
        assert stats["count"] == values.size


def test_existing_store_is_not_overwritten_without_flag(tmp_path):
    recipe, _, store = built(tmp_path)
    path = tmp_path / "tiny.zarr.yaml"
    before = zarr.open_group(str(store), mode="r")["outputs/solution"][:]
    result = CliRunner().invoke(main, ["build", str(path), "--quiet"])
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    assert np.array_equal(zarr.open_group(str(store), mode="r")["outputs/solution"][:], before)
    result = CliRunner().invoke(main, ["build", str(path), "--quiet", "--overwrite", "--seed", "99"])
    assert result.exit_code == 0, result.output
    assert not np.array_equal(zarr.open_group(str(store), mode="r")["inputs/coefficient"][:], before)


def test_overwrite_refuses_to_delete_a_foreign_directory(tmp_path):
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not delete")
    recipe = small_recipe(tmp_path, **{"output.path": str(foreign)})
    path = write_recipe(tmp_path, recipe)
    result = CliRunner().invoke(main, ["build", str(path), "--quiet", "--overwrite"])
    assert result.exit_code == 2 and "not a pdegen store" in result.output
    assert "refusing to delete it with --overwrite" in result.output
    assert (foreign / "thesis.tex").read_text() == "do not delete"


def test_an_hdf5_store_being_written_is_named_as_such(tmp_path):
    """HDF5 locks a file against readers while a process writes it: info, resume and
    overwrite say so instead of a traceback or "not a pdegen store"."""
    import subprocess
    import sys
    store = tmp_path / "s.h5"
    path = write_recipe(tmp_path, small_recipe(tmp_path, **{"output.format": "hdf5", "output.path": str(store)}))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    writer = subprocess.Popen([sys.executable, "-c", f"import h5py, time; f = h5py.File({str(store)!r}, 'r+'); "
                               "print('open', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        import h5py
        try:
            h5py.File(store, "r").close()
            pytest.skip("this file system does not lock HDF5 files")
        except BlockingIOError:
            pass
        busy = "another process is writing this HDF5 file"
        info = CliRunner().invoke(main, ["info", str(store)])
        assert info.exit_code == 2 and busy in info.output
        resume = CliRunner().invoke(main, ["build", str(path), "-q", "--resume"])
        assert resume.exit_code == 2 and "cannot resume" in resume.output and busy in resume.output
        overwrite = CliRunner().invoke(main, ["build", str(path), "-q", "--overwrite"])
        assert overwrite.exit_code == 2 and busy in overwrite.output and store.exists()
    finally:
        writer.kill()
        writer.wait()


def test_solver_labels_are_stable():
    # Stored codes index this list: it may only grow at the end.
    assert SOLVER_LABELS[:7] == ("none", "direct", "cg", "gmres", "gcrodr", "ksp", "fallback-direct")


def test_compression_settings_store_the_same_values_with_their_codecs(tmp_path):
    import h5py
    values, sizes = {}, {}
    for fmt in ("zarr", "hdf5"):
        for compression in ("lz4", "zstd", "none"):
            name = f"{compression}.{'zarr' if fmt == 'zarr' else 'h5'}"
            recipe, summary, store = built(tmp_path, name, samples=8, **{
                "output.format": fmt, "output.compression": compression, "grid.shape": [32, 32]})
            assert summary.ok
            with open_dataset(store) as ds:
                values[fmt, compression] = ds["inputs/coefficient"][:], ds["outputs/solution"][:]
            if fmt == "zarr":
                compressors = zarr.open_array(str(store / "inputs/coefficient")).compressors
                codecs = [type(c).__name__ for c in compressors]
                assert codecs == {"lz4": ["BloscCodec"], "zstd": ["ZstdCodec"], "none": []}[compression]
                if compression == "lz4":
                    assert compressors[0].cname.value == "lz4" and compressors[0].shuffle.value == "bitshuffle"
                sizes[fmt, compression] = sum(f.stat().st_size for f in (store / "inputs").rglob("*")
                                              if f.is_file() and f.name != "zarr.json")
            else:
                with h5py.File(store, "r") as f:
                    dset = f["inputs/coefficient"]
                    assert dset.compression == (None if compression == "none" else "gzip")
                    assert dset.shuffle == (compression == "lz4")
                    sizes[fmt, compression] = dset.id.get_storage_size()
    reference = values["zarr", "none"]
    for key, (coefficient, solution) in values.items():
        assert np.array_equal(coefficient, reference[0]) and np.array_equal(solution, reference[1]), key
    for fmt in ("zarr", "hdf5"):  # shuffled bytes compress better than plain ones, both better than none
        assert sizes[fmt, "lz4"] < sizes[fmt, "zstd"] < sizes[fmt, "none"], sizes


class _RecordingWriter:
    """A writer that logs what it is asked to write, writes rows only once ``gate`` is set,
    and can be told to fail."""

    def __init__(self, fail_at=None):
        import threading
        self.log, self.fail_at, self.closed = [], fail_at, False
        self.gate = threading.Event()

    def write_rows(self, arrays, start):
        assert self.gate.wait(timeout=60)
        if start == self.fail_at:
            raise OSError("disk full (simulated)")
        self.log.append(("rows", start, sorted(arrays)))

    def write(self, path, data, start):
        self.log.append((path, start, int(np.sum(data))))

    def read(self, path, start, stop):
        return list(self.log)

    def close(self):
        self.closed = True


def test_background_chunks_mark_a_chunk_done_only_after_its_rows_and_wait_on_close():
    from pdegen.store.writers import BackgroundChunks
    inner = _RecordingWriter()
    writer = BackgroundChunks(inner)
    writer.write_chunk({"a": np.zeros(4)}, 0, 4)
    assert inner.log == []  # handed over, not written yet: the caller goes on
    inner.gate.set()
    writer.write_chunk({"a": np.zeros(2)}, 4, 2)  # waits for the first chunk
    assert inner.log == [("rows", 0, ["a"]), ("done", 0, 4)]
    assert writer.read("done", 0, 6)[-1] == ("done", 4, 2)  # reads see every chunk handed over
    writer.write_chunk({"a": np.zeros(3)}, 6, 3)
    writer.close()
    assert inner.log[-2:] == [("rows", 6, ["a"]), ("done", 6, 3)] and inner.closed


def test_background_chunks_raise_a_failed_write_at_the_next_chunk_and_never_mark_it_done():
    from pdegen.store.writers import BackgroundChunks
    inner = _RecordingWriter(fail_at=4)
    inner.gate.set()
    writer = BackgroundChunks(inner)
    writer.write_chunk({"a": np.zeros(4)}, 0, 4)
    writer.write_chunk({"a": np.zeros(4)}, 4, 4)
    with pytest.raises(OSError, match="disk full"):
        writer.write_chunk({"a": np.zeros(4)}, 8, 4)
    assert ("done", 4, 4) not in inner.log and ("rows", 8, ["a"]) not in inner.log
    writer.close()  # the error was reported once; closing still closes the store
    assert inner.closed and inner.log == [("rows", 0, ["a"]), ("done", 0, 4)]
