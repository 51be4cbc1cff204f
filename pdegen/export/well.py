"""Export a store of trajectories in The Well's HDF5 layout, for its loaders.

The Well (Ohana et al., "The Well: a large-scale collection of diverse physics
simulations for machine learning", NeurIPS 2024 Datasets and Benchmarks) reads a data set
as ``ROOT/data/{train,valid,test}/*.hdf5`` plus ``ROOT/stats.yaml``, each file holding
trajectories of shape (n_trajectories, n_steps, *grid) under ``t0_fields`` (scalar
fields), with the grid, the times, the boundary kinds and the scalar parameters beside
them (its docs/data_format.md). :func:`export_well` writes one file per split:

- each stored output (``solution``, or ``u`` and ``v``) as a time-varying field, the
  state at t = 0 first: the state the build started from (the family's initial state
  from the sample's own draws, coarsened as the store's fields), then every stored state,
  so ``dimensions/time`` is [0, coords/t];
- vector fields that follow from the state (navier_stokes: the velocity of its vorticity,
  :meth:`~pdegen.families.base.Family.vector_fields`) as time-varying ``t1_fields``, their
  components last;
- the other input fields (a coefficient, a flow, an initial velocity) as fields constant
  in time; the inputs that *are* the initial state (``initial``, ``initial_u``, ...) are
  its first time and not repeated;
- every scalar parameter under ``scalars`` (drawn ones per trajectory, constants once; the
  constants also as root attributes listed in ``simulation_parameters``);
- each face's kind as a boundary condition: periodic as ``periodic``; Dirichlet and
  Neumann faces as ``wall``, except Neumann and inflow faces of a flow (advection,
  transport), which are ``open``;
- ``stats.yaml``: mean, std, rms and those of the differences between consecutive states
  (``*_delta``), per field (per component of a vector field) over the train split.

The Well's own files are float32; the export keeps the store's dtype. Samples recorded
as failed are left out (and counted); an incomplete store is refused; trajectories are in
sample-id order, their ids in ``pdegen/sample_id``, drawn boundary data (Fourier
coefficients, not scalars) in ``pdegen/params``, the recipe in the root attribute
``pdegen_recipe`` (The Well's reader passes all three by). Everything is written into a
hidden directory beside ``out`` and renamed into place at the end, so an interrupted
export leaves nothing half-written.

Example
-------
>>> channel = {"kind": "periodic", "faces": {"x_low": {"kind": "inflow"}, "x_high": {"kind": "neumann"}}}
>>> boundary_kinds({"family": "transport", "grid": {"shape": [8, 8]}, "boundary": channel})
['open', 'open', 'periodic', 'periodic']
>>> export_well("data/navier_stokes.zarr", "data/navier_stokes_well")   # doctest: +SKIP
>>> from the_well.data import WellDataset                                # doctest: +SKIP
>>> ds = WellDataset(path="data/navier_stokes_well", well_split_name="train",
...                  n_steps_input=10, n_steps_output=1)                 # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..build import draw_values, grid_of
from ..families import get_family
from ..families import boundary as faces
from ..grid import AXIS_NAMES, coarsen
from ..store.layout import coarsening, output_paths, stored_parameters
from ..store.normalization import RunningMoments
from ..store.reader import open_dataset
from . import ExportError, split_members, staged

WELL_SPLITS = {"train": "train", "val": "valid", "test": "test"}  # pdegen's split -> The Well's folder


@dataclass
class WellSummary:
    out: Path
    trajectories: dict[str, int]          # per Well split
    steps: int                            # states per trajectory, t = 0 included
    fields: list[str]                     # time-varying fields
    constant_fields: list[str]
    left_out: list[int] = field(default_factory=list)  # sample ids recorded as failed

    def line(self) -> str:
        counts = ", ".join(f"{split} {n}" for split, n in self.trajectories.items())
        failed = (f"; {len(self.left_out)} failed sample(s) left out (ids {', '.join(map(str, self.left_out[:10]))}"
                  f"{', ...' if len(self.left_out) > 10 else ''})" if self.left_out else "")
        return (f"{self.out}: {counts} trajectories of {self.steps} states ({', '.join(self.fields)}"
                f"{'; constant: ' + ', '.join(self.constant_fields) if self.constant_fields else ''}){failed}")


def is_initial_state(parameter: str) -> bool:
    """Whether a family parameter is (part of) the state at t = 0: ``initial``, ``initial_u``, ..."""
    return parameter == "initial" or parameter.startswith("initial_")


def boundary_kinds(recipe: dict) -> list[str]:
    """The Well's kind (``periodic``, ``wall`` or ``open``) of each face, in (axis, side)
    order; a family without face-by-face conditions has walls (Dirichlet) all round."""
    family = get_family(recipe["family"])
    ndim = len(recipe["grid"]["shape"])
    if "faces" not in family.boundary:
        return ["wall"] * (2 * ndim)
    flow = "inflow" in family.boundary["kind"].choices  # there Neumann faces are outflow faces
    kinds = faces.face_kinds(recipe["boundary"], ndim)
    well = {"periodic": "periodic", "dirichlet": "wall", "neumann": "open" if flow else "wall", "inflow": "open"}
    return [well[kind] for kind in kinds]


def _is_export(path: Path) -> bool:
    """Whether ``path`` holds an earlier export and nothing else (what --overwrite may delete)."""
    return path.is_dir() and (path / "data").is_dir() and {p.name for p in path.iterdir()} <= {"data", "stats.yaml"}


def export_well(store, out, *, overwrite: bool = False, progress=None) -> WellSummary:
    """Write the trajectories of the pdegen store ``store`` as The Well's data set ``out``
    (a directory: ``data/{train,valid,test}/NAME.hdf5`` and ``stats.yaml``)."""
    out = Path(out)
    with open_dataset(store) as ds:
        recipe = ds.attrs["recipe"]
        family = get_family(recipe["family"])
        if not family.time_dependent:
            raise ExportError(f"{store}: {family.name} is steady (one solution per sample), and The Well's format "
                              "holds time series; export it with --to neuraloperator (or --to auto)")
        members, left_out = split_members(ds)
        with staged(out, overwrite, _is_export, "The Well's layout (only data/ and stats.yaml)") as staging:
            summary = _write(ds, recipe, family, members, staging, progress)
    summary.out, summary.left_out = out, left_out
    return summary


def _write(ds, recipe: dict, family, members: dict, root: Path, progress) -> WellSummary:
    import h5py

    grid = grid_of(recipe)
    outputs = [path.removeprefix("outputs/") for path in output_paths(recipe)]
    inputs = {path.removeprefix("inputs/"): path for path, name in stored_parameters(recipe).items()
              if path.startswith("inputs/") and not is_initial_state(name)}
    drawn = {name: path for path, name in stored_parameters(recipe).items() if path.startswith("params/")}
    scalars = {name: path for name, path in drawn.items() if ds[path].ndim == 1}
    series = {name: path for name, path in drawn.items() if ds[path].ndim > 1}  # Fourier boundary data
    constants = {name: float(spec["value"]) for name, spec in recipe["parameters"].items()
                 if spec["dist"] == "constant" and np.ndim(spec["value"]) == 0}
    times = np.concatenate([[0.0], ds["coords/t"][:]])
    dtype = ds[f"outputs/{outputs[0]}"].dtype
    stored_grid = grid.coarsened(coarsening(recipe)[0])
    vector_names = list(family.vector_fields(stored_grid, np.zeros(len(outputs) * stored_grid.size), recipe))

    ids = ds["sample_id"][:]
    position = {}  # sample id -> (pdegen split, row in its file)
    for label, chosen in members.items():
        position.update({int(sample): (label, row) for row, sample in enumerate(chosen)})

    files = {}
    for label, chosen in members.items():
        folder = root / "data" / WELL_SPLITS[label]
        folder.mkdir(parents=True)
        handle = h5py.File(folder / f"{recipe['name']}.hdf5", "w")
        files[label] = handle
        _layout(handle, recipe, ds, chosen, times, (outputs, vector_names, inputs), scalars, series, constants,
                dtype)

    train_stats = {**{name: _FieldStats(in_time=True) for name in outputs},
                   **{name: _FieldStats(in_time=True, components=grid.ndim) for name in vector_names},
                   **{name: _FieldStats(in_time=False) for name in inputs}}
    chunk = (getattr(ds[f"outputs/{outputs[0]}"], "chunks", None) or (64,))[0]  # read the store chunk by chunk
    try:
        for c0 in range(0, ids.size, chunk):
            c1 = min(c0 + chunk, ids.size)
            block = {name: ds[f"outputs/{name}"][c0:c1] for name in outputs}
            block.update({name: ds[path][c0:c1] for name, path in inputs.items()})
            block.update({name: ds[path][c0:c1] for name, path in drawn.items()})
            for offset, sample in enumerate(ids[c0:c1]):
                if int(sample) not in position:
                    continue
                label, row = position[int(sample)]
                handle = files[label]
                start = _initial_states(recipe, family, grid, int(sample), len(outputs))
                fields = {name: np.concatenate([first[None].astype(dtype), block[name][offset]])
                          for name, first in zip(outputs, start)}  # (T + 1, *grid): t = 0 first
                states = np.stack([fields[name] for name in outputs], axis=1)  # (T + 1, components, *grid)
                derived = [family.vector_fields(stored_grid, state.ravel(), recipe) for state in states]
                for name in vector_names:  # (T + 1, *grid, ndim): The Well's components come last
                    fields[name] = np.moveaxis(np.stack([d[name] for d in derived]), 1, -1).astype(dtype)
                fields.update({name: block[name][offset] for name in inputs})
                for name, values in fields.items():
                    handle[f"t{int(name in vector_names)}_fields/{name}"][row] = values
                    if label == "train":
                        train_stats[name].add(values)
                for name in scalars:
                    handle[f"scalars/{name}"][row] = block[name][offset]
                for name in series:
                    handle[f"pdegen/params/{name}"][row] = block[name][offset]
                handle["pdegen/sample_id"][row] = sample
            if progress is not None:
                progress.update(c1 - c0)
    finally:
        for handle in files.values():
            handle.close()

    if members["train"].size:
        stats = {"mean": {}, "std": {}, "rms": {}, "mean_delta": {}, "std_delta": {}, "rms_delta": {}}
        for name, field_stats in train_stats.items():
            for key, value in field_stats.result().items():
                stats[key][name] = value
        (root / "stats.yaml").write_text(yaml.safe_dump(stats, sort_keys=False))
    return WellSummary(root, {WELL_SPLITS[label]: int(chosen.size) for label, chosen in members.items()},
                         len(times), [*outputs, *vector_names], list(inputs))


def _initial_states(recipe: dict, family, grid, sample: int, components: int) -> np.ndarray:
    """(components, *stored grid): the state the build started sample ``sample`` from."""
    state = family.initial_state(grid, draw_values(recipe, family, sample)).reshape((components, *grid.shape))
    factor, by = coarsening(recipe)
    return coarsen(state, factor, grid.ndim, by)


def _layout(handle, recipe: dict, ds, chosen: np.ndarray, times, fields, scalars, series, constants, dtype):
    """Every group, attribute and (empty) dataset of one split's file; ``fields`` are the
    names of the outputs, the vector fields derived from them and the constant inputs."""
    import h5py

    outputs, vector_names, inputs = fields

    strings = h5py.string_dtype()
    n, ndim = int(chosen.size), len(recipe["grid"]["shape"])
    shape = tuple(int(ds[f"coords/{AXIS_NAMES[axis]}"].shape[0]) for axis in range(ndim))
    names = list(AXIS_NAMES[:ndim])
    handle.attrs.update({"dataset_name": recipe["name"], "grid_type": "cartesian", "n_spatial_dims": ndim,
                         "n_trajectories": n, "pdegen_recipe": json.dumps(recipe)})
    handle.attrs["simulation_parameters"] = np.array(list(constants), dtype=strings)
    for name, value in constants.items():
        handle.attrs[name] = value

    dims = handle.create_group("dimensions")
    dims.attrs["spatial_dims"] = np.array(names, dtype=strings)
    dims.create_dataset("time", data=np.asarray(times, dtype=dtype)).attrs["sample_varying"] = False
    for name in names:
        coordinate = dims.create_dataset(name, data=ds[f"coords/{name}"][:].astype(dtype))
        coordinate.attrs.update({"sample_varying": False, "time_varying": False})

    bcs = handle.create_group("boundary_conditions")
    kinds = boundary_kinds(recipe)
    for axis, name in enumerate(names):
        low, high = kinds[2 * axis], kinds[2 * axis + 1]
        sides = [("periodic", (0, -1), "periodic")] if low == high == "periodic" else \
            [(f"{name}_low", (0,), low), (f"{name}_high", (-1,), high)]
        for group_name, ends, kind in sides:
            mask = np.zeros(shape[axis], dtype=bool)
            mask[list(ends)] = True
            group = bcs.create_group(f"{name}_periodic" if kind == "periodic" else group_name)
            group.attrs.update({"associated_dims": np.array([name], dtype=strings), "bc_type": kind,
                                "associated_fields": np.array([], dtype=strings),
                                "sample_varying": False, "time_varying": False})
            group.create_dataset("mask", data=mask)

    group = handle.create_group("scalars")
    group.attrs["field_names"] = np.array([*constants, *scalars], dtype=strings)
    for name, value in constants.items():
        group.create_dataset(name, data=np.asarray(value, dtype=dtype)).attrs.update(
            {"sample_varying": False, "time_varying": False})
    for name in scalars:
        group.create_dataset(name, shape=(n,), dtype=dtype).attrs.update(
            {"sample_varying": True, "time_varying": False})

    group = handle.create_group("t0_fields")
    group.attrs["field_names"] = np.array([*outputs, *inputs], dtype=strings)
    varying = np.ones(ndim, dtype=bool)
    for name in outputs:
        group.create_dataset(name, shape=(n, len(times), *shape), dtype=dtype, chunks=(1, 1, *shape) if n else None
                             ).attrs.update({"dim_varying": varying, "sample_varying": True, "time_varying": True})
    for name in inputs:
        group.create_dataset(name, shape=(n, *shape), dtype=dtype, chunks=(1, *shape) if n else None
                             ).attrs.update({"dim_varying": varying, "sample_varying": True, "time_varying": False})
    group = handle.create_group("t1_fields")
    group.attrs["field_names"] = np.array(vector_names, dtype=strings)
    for name in vector_names:
        group.create_dataset(name, shape=(n, len(times), *shape, ndim), dtype=dtype,
                             chunks=(1, 1, *shape, ndim) if n else None
                             ).attrs.update({"dim_varying": varying, "sample_varying": True, "time_varying": True})
    handle.create_group("t2_fields").attrs["field_names"] = np.array([], dtype=strings)
    own = handle.create_group("pdegen")  # not The Well's: its reader passes it by
    own.create_dataset("sample_id", data=chosen.astype(np.int64))
    for name, path in series.items():
        own.create_dataset(f"params/{name}", shape=(n, ds[path].shape[1]), dtype=np.float64)


class _FieldStats:
    """Mean, std and rms of one field's values, and of the differences between its
    consecutive states (``in_time``), per component for a vector field (its last axis)."""

    def __init__(self, in_time: bool, components: int | None = None):
        self.in_time, self.components = in_time, components
        count = components or 1
        self.values, self.deltas = [RunningMoments() for _ in range(count)], [RunningMoments() for _ in range(count)]

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        parts = [values] if self.components is None else [values[..., c] for c in range(self.components)]
        for moments, deltas, part in zip(self.values, self.deltas, parts):
            moments.add(part)
            if self.in_time:
                deltas.add(np.diff(part, axis=0))

    def result(self) -> dict:
        """{"mean": ..., "std": ..., "rms": ...} and, in time, the same of the differences
        ("mean_delta", ...): numbers, or lists of one per component."""
        out = {}
        for suffix, moments in (("", self.values), ("_delta", self.deltas if self.in_time else [])):
            if not moments:
                continue
            columns = zip(*((m.mean, m.std, float(np.hypot(m.mean, m.std))) for m in moments))
            for key, column in zip(("mean", "std", "rms"), columns):
                out[key + suffix] = list(column) if self.components else column[0]
        return out
