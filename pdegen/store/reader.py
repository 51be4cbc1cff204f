"""Read pdegen stores (Zarr or HDF5) through one small API.

Example
-------
>>> ds = open_dataset("data/darcy.zarr")            # doctest: +SKIP
>>> ds["inputs/coefficient"][0:4].shape              # doctest: +SKIP
(4, 128, 128)
>>> ds.fields("inputs"), ds.num_samples              # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .layout import FORMAT_NAME, SOLVER_LABELS, SPLIT_LABELS, stored_shape


def detect_format(path) -> str:
    path = Path(path)
    if path.is_dir() and (path / "zarr.json").is_file():
        return "zarr"
    if path.is_file():
        with open(path, "rb") as handle:
            if handle.read(8) == b"\x89HDF\r\n\x1a\n":
                return "hdf5"
    raise FileNotFoundError(f"{path}: not a pdegen store (expected a Zarr v3 directory or an HDF5 file)")


class Dataset:
    """A store opened for reading: ``ds[path]`` gives lazily sliceable arrays."""

    def __init__(self, path, handle, fmt: str, attrs: dict):
        self.path, self.handle, self.format, self.attrs = str(path), handle, fmt, attrs

    def __getitem__(self, name: str):
        return self.handle[name]

    def __contains__(self, name: str) -> bool:
        try:
            self.handle[name]
            return True
        except KeyError:
            return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.format == "hdf5":
            self.handle.close()

    @property
    def num_samples(self) -> int:
        return int(self.handle["done"].shape[0])

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """The grid of the stored fields (the solve's, coarsened by ``output.coarsen``)."""
        return stored_shape(self.attrs["recipe"])

    def fields(self, group: str) -> list[str]:
        """Array paths under ``inputs``, ``params``, ``outputs``, ``coords`` or ``stats``."""
        if group not in self.handle:
            return []
        return sorted(f"{group}/{name}" for name in self.handle[group].keys())

    def split_mask(self, split: str) -> np.ndarray:
        if split not in SPLIT_LABELS:
            raise ValueError(f"split must be one of {', '.join(SPLIT_LABELS)}; got {split!r}")
        return self.handle["split"][:] == SPLIT_LABELS.index(split)

    def solver_names(self) -> np.ndarray:
        return np.asarray(SOLVER_LABELS, dtype=object)[self.handle["stats/solver"][:]]

    def recipe(self):
        from ..recipe import Recipe, validate
        return Recipe(validate(self.attrs["recipe"]), text=self.attrs.get("recipe_text", ""))


def open_dataset(path) -> Dataset:
    """Open a pdegen store (format detected from the path) for reading."""
    fmt = detect_format(path)
    if fmt == "zarr":
        import zarr
        handle = zarr.open_group(str(path), mode="r")
        attrs = handle.attrs.asdict()
    else:
        import h5py
        try:
            handle = h5py.File(str(path), "r")
        except BlockingIOError:  # HDF5's file lock, held by a writer
            raise ValueError(f"{path}: another process is writing this HDF5 file (a build in progress?), and HDF5 "
                             "lets no reader open it meanwhile; wait until it finishes, or build to Zarr to "
                             "read a store while it grows") from None
        attrs = {k: json.loads(v) for k, v in handle.attrs.items()}
    if attrs.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a pdegen store (attribute format={attrs.get('format')!r})")
    return Dataset(path, handle, fmt, attrs)
