"""Choose and open the writer for a store's format: rank 0 creates the store; each
process group's writing rank opens its own part; rank 0 reopens the whole store at the
end for the final attributes."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

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


class BackgroundChunks:
    """Writes each finished chunk on a worker thread while the caller solves the next one.

    One task writes a chunk's rows and then its ``done`` flags, so a chunk is marked done
    only once its data is written. At most one chunk is in flight: the next
    :meth:`write_chunk`, a :meth:`read` and :meth:`close` wait for it first and re-raise
    its error, so a failed write stops the build one chunk later with that chunk and the
    rest not done, as a write in the foreground would; and an interrupted build keeps
    every chunk it handed over. What it is for is the file system's latency: a Darcy
    chunk is 13 zarr files, and where creating a file costs milliseconds (parallel file
    systems) the solver would otherwise stand still for them. On this VM's local disk it
    gained 2-3% of a 128² build (0.98x and 0.97x, medians of 8 alternating pairs) and 1%
    pinned to one core: within the noise.
    """

    def __init__(self, writer):
        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdegen-writer")
        self._pending = None

    def write_chunk(self, arrays: dict, start: int, rows: int) -> None:
        """Hand over rows ``start:start + rows``; ``arrays`` must not change afterwards."""
        self.wait()
        self._pending = self._pool.submit(self._write, arrays, start, rows)

    def _write(self, arrays: dict, start: int, rows: int) -> None:
        self.writer.write_rows(arrays, start)
        self.writer.write("done", np.ones(rows, bool), start)  # only after the data is written

    def wait(self) -> None:
        """Block until the chunk in flight (if any) is written; re-raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def read(self, path: str, start: int, stop: int):
        self.wait()
        return self.writer.read(path, start, stop)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
            self.writer.close()
