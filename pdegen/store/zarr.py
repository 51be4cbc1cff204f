"""Zarr v3 writer for the format in :mod:`pdegen.store.layout`."""

from __future__ import annotations

import numpy as np
import zarr

from .layout import ArraySpec


def _compressors(compression: str):
    return (zarr.codecs.ZstdCodec(level=3),) if compression == "zstd" else None


class ZarrWriter:
    """Writes whole chunks of rows; the ``done`` flags are written after the data."""

    def __init__(self, group: zarr.Group):
        self.group = group

    @classmethod
    def create(cls, path, layout: list[ArraySpec], attrs: dict, compression: str = "zstd") -> "ZarrWriter":
        group = zarr.open_group(str(path), mode="w-")
        for spec in layout:
            compressors = _compressors(compression) if len(spec.shape) > 1 else _compressors("zstd")
            group.create_array(spec.path, shape=spec.shape, chunks=spec.chunks, shards=spec.shards, dtype=spec.dtype,
                               fill_value=spec.fill_value, compressors=compressors, attributes=spec.attrs)
        group.attrs.update(attrs)
        return cls(group)

    @classmethod
    def open(cls, path) -> "ZarrWriter":
        return cls(zarr.open_group(str(path), mode="r+"))

    def write(self, path: str, data: np.ndarray, start: int | None = None) -> None:
        array = self.group[path]
        if start is None:
            array[...] = data
        else:
            array[start:start + len(data)] = data

    def read(self, path: str, start: int, stop: int) -> np.ndarray:
        return self.group[path][start:stop]

    def update_attrs(self, attrs: dict) -> None:
        self.group.attrs.update(attrs)

    def attrs(self) -> dict:
        return self.group.attrs.asdict()

    def close(self) -> None:
        pass
