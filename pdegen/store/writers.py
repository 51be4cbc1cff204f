"""Choose and open the writer for a store's format: rank 0 creates the store; each
process group's writing rank opens its own part; rank 0 reopens the whole store at the
end for the final attributes."""

from __future__ import annotations

import shutil
from pathlib import Path

from .layout import ArraySpec


def create_store(path, fmt: str, layout: list[ArraySpec], attrs: dict, compression: str,
                 parts: list[tuple[int, int]], coords: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "zarr":
        from .zarr import ZarrWriter
        writer = ZarrWriter.create(path, layout, attrs, compression)
    else:
        from .hdf5 import HDF5Writer
        HDF5Writer.create(path, layout, attrs, compression, parts)
        writer = HDF5Writer.open(path)
    for name, values in coords.items():
        writer.write(name, values)
    writer.close()


def remove_store(path) -> None:
    """Delete a store: a Zarr folder or an HDF5 file, with an HDF5 store's part files."""
    from .hdf5 import parts_dir
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
    if parts_dir(path).is_dir():
        shutil.rmtree(parts_dir(path), ignore_errors=True)


def open_part(path, fmt: str, part: int, start: int, parts: int):
    """Writer for rows [start, ...) of part ``part`` (one per process group)."""
    if fmt == "zarr":
        from .zarr import ZarrWriter
        return ZarrWriter.open(path)
    from .hdf5 import HDF5Writer
    return HDF5Writer.open(path) if parts == 1 else HDF5Writer.open(path, part=part, start=start)


def open_whole(path, fmt: str):
    if fmt == "zarr":
        from .zarr import ZarrWriter
        return ZarrWriter.open(path)
    from .hdf5 import HDF5Writer
    return HDF5Writer.open(path)
