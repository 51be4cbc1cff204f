"""HDF5 writer for the format in :mod:`pdegen.store.layout` (same names as Zarr).

With one process the store is a single file. With several process groups and serial
h5py, each group writes its own part file (``<path>.parts/part-00003.h5``) holding only
its contiguous range of rows, and rank 0 makes the main file, whose per-sample datasets
are HDF5 virtual datasets over the parts: readers see one dataset either way. Attributes
are JSON strings (HDF5 has no nested attribute type).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from .layout import ArraySpec

# HDF5 has no built-in zstd or Blosc filter and pdegen stores must open without plugins.
COMPRESSION = {"lz4": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
               "zstd": {"compression": "gzip", "compression_opts": 1}, "none": {}}


def parts_dir(path) -> Path:
    """The folder of a store's part files (one per process group)."""
    return Path(f"{path}.parts")


def part_path(path, index: int) -> Path:
    return parts_dir(path) / f"part-{index:05d}.h5"


def _set_attrs(obj, attrs: dict) -> None:
    for key, value in attrs.items():
        obj.attrs[key] = json.dumps(value)


def _dataset(group, spec: ArraySpec, shape, compression: str, resizable: bool = False):
    """``resizable``: the sample axis may grow (``pdegen build --extend``; chunked datasets
    only, which per-sample ones always are)."""
    chunks = (min(spec.chunks[0], shape[0]), *spec.chunks[1:]) if shape[0] else None
    kwargs = COMPRESSION[compression] if len(spec.shape) > 1 else {}
    if resizable and chunks:
        kwargs = {**kwargs, "maxshape": (None, *shape[1:])}
    dset = group.create_dataset(spec.path, shape=shape, dtype=spec.dtype, chunks=chunks,
                                fillvalue=spec.fill_value, **kwargs)
    _set_attrs(dset, spec.attrs)
    return dset


class HDF5Writer:
    """Writes rows ``[start, stop)`` of the dataset into one file (the main file when
    there is one part, a part file otherwise); ``done`` is flushed after the data."""

    def __init__(self, path, handle: h5py.File, offset: int):
        self.path, self.handle, self.offset = Path(path), handle, offset

    @classmethod
    def create(cls, path, layout: list[ArraySpec], attrs: dict, compression: str,
               parts: list[tuple[int, int]]) -> None:
        """Rank 0: the main file (and, with several parts, the part files' empty layout)."""
        path = Path(path)
        with h5py.File(path, "w") as main:
            _set_attrs(main, {**attrs, "parts": len(parts)})
            for spec in layout:
                if not spec.per_sample or len(parts) == 1:
                    _dataset(main, spec, spec.shape, compression, resizable=spec.per_sample)
                    continue
                source = h5py.VirtualLayout(shape=spec.shape, dtype=spec.dtype)
                for index, (start, stop) in enumerate(parts):
                    if stop > start:
                        rel = str(part_path(path.name, index))  # relative to the main file
                        source[start:stop] = h5py.VirtualSource(rel, spec.path, shape=(stop - start, *spec.shape[1:]))
                dset = main.create_virtual_dataset(spec.path, source, fillvalue=spec.fill_value)
                _set_attrs(dset, spec.attrs)
        if len(parts) > 1:
            parts_dir(path).mkdir(exist_ok=True)
            for index, (start, stop) in enumerate(parts):
                with h5py.File(part_path(path, index), "w") as part:
                    part.attrs["rows"] = json.dumps([start, stop])
                    for spec in layout:
                        if spec.per_sample:
                            _dataset(part, spec, (stop - start, *spec.shape[1:]), compression)

    @classmethod
    def open(cls, path, part: int | None = None, start: int = 0) -> "HDF5Writer":
        path = Path(path)
        if part is None:
            return cls(path, h5py.File(path, "r+"), 0)
        return cls(path, h5py.File(part_path(path, part), "r+"), start)

    def write(self, name: str, data: np.ndarray, start: int | None = None) -> None:
        dset = self.handle[name]
        if start is None:
            dset[...] = data
        else:
            dset[start - self.offset: start - self.offset + len(data)] = data
        if name == "done":
            self.handle.flush()  # the row's data went first; now its done flags

    def write_rows(self, arrays: dict[str, np.ndarray], start: int) -> None:
        for name, data in arrays.items():
            self.write(name, data, start)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        return self.handle[name][start - self.offset: stop - self.offset]

    def resize(self, name: str, shape: tuple[int, ...]) -> None:
        self.handle[name].resize(shape)

    def update_attrs(self, attrs: dict) -> None:
        _set_attrs(self.handle, attrs)

    def attrs(self) -> dict:
        return {k: json.loads(v) for k, v in self.handle.attrs.items()}

    def close(self) -> None:
        self.handle.close()
