"""`output.compression` on real fields: stored size, write and read time per sample.

Builds a 128x128 Darcy store (the default recipe, float32), then writes its coefficient
and solution fields again with each compression setting, in the store's own chunks
(32 samples), through the same Zarr codecs and HDF5 filters that `pdegen build` uses,
and reads them back. Times are per sample (both fields), medians of 5 repeats (zarr runs
codecs in worker threads, where numcodecs' Blosc starts no threads of its own).

Usage: python benchmarks/compression.py [--samples 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import zarr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.recipe import OUTPUT_KEYS, load_recipe  # noqa: E402
from pdegen.store.hdf5 import COMPRESSION as HDF5_FILTERS  # noqa: E402
from pdegen.store.zarr import _compressors  # noqa: E402

SETTINGS = OUTPUT_KEYS["compression"].choices
REPEATS = 5


def fields(samples: int, tmp: Path) -> dict[str, np.ndarray]:
    store = tmp / "source.zarr"
    build(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={samples}", f"output.path={store}"]), quiet=True)
    group = zarr.open_group(str(store), mode="r")
    return {"coefficient": group["inputs/coefficient"][:], "solution": group["outputs/solution"][:]}


def zarr_round_trip(data: dict, compression: str, path: Path, chunk: int):
    group = zarr.open_group(str(path), mode="w")
    arrays = {name: group.create_array(name, shape=x.shape, chunks=(chunk, *x.shape[1:]), dtype=x.dtype,
                                       compressors=_compressors(compression)) for name, x in data.items()}
    start = time.perf_counter()
    for name, x in data.items():
        for row in range(0, len(x), chunk):
            arrays[name][row:row + chunk] = x[row:row + chunk]
    written = time.perf_counter() - start
    start = time.perf_counter()
    back = {name: np.concatenate([arrays[name][row:row + chunk] for row in range(0, len(x), chunk)])
            for name, x in data.items()}
    read = time.perf_counter() - start
    assert all(np.array_equal(back[name], x) for name, x in data.items())
    stored = sum(arrays[name].nbytes_stored() for name in data)
    return written, read, stored


def hdf5_round_trip(data: dict, compression: str, path: Path, chunk: int):
    with h5py.File(path, "w") as f:
        dsets = {name: f.create_dataset(name, shape=x.shape, dtype=x.dtype, chunks=(chunk, *x.shape[1:]),
                                        **HDF5_FILTERS[compression]) for name, x in data.items()}
        start = time.perf_counter()
        for name, x in data.items():
            for row in range(0, len(x), chunk):
                dsets[name][row:row + chunk] = x[row:row + chunk]
        f.flush()
        written = time.perf_counter() - start
    with h5py.File(path, "r") as f:
        start = time.perf_counter()
        back = {name: np.concatenate([f[name][row:row + chunk] for row in range(0, len(x), chunk)])
                for name, x in data.items()}
        read = time.perf_counter() - start
        stored = sum(f[name].id.get_storage_size() for name in data)
    assert all(np.array_equal(back[name], x) for name, x in data.items())
    return written, read, stored


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    chunk = OUTPUT_KEYS["chunk_samples"].default
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = fields(args.samples, tmp)
        raw = sum(x.nbytes for x in data.values())
        for fmt, round_trip in (("zarr", zarr_round_trip), ("hdf5", hdf5_round_trip)):
            for compression in SETTINGS:
                runs = [round_trip(data, compression, tmp / f"{fmt}-{compression}-{i}", chunk) for i in range(REPEATS)]
                written, read = (statistics.median(r[i] for r in runs) for i in (0, 1))
                stored = runs[0][2]
                rows.append([fmt, compression, f"{raw / stored:.2f}", f"{1e3 * written / args.samples:.3f}",
                             f"{1e3 * read / args.samples:.3f}"])
                print(rows[-1], flush=True)
    body = (f"{args.samples} samples of `recipes/darcy.yaml` (128x128, float32): coefficient and solution "
            f"fields written in {chunk}-sample chunks and read back, median of {REPEATS}. Ratio: raw bytes / "
            "stored bytes. `lz4` is Blosc LZ4 with bit shuffle in Zarr, gzip-1 with byte shuffle in HDF5; "
            "`zstd` is Zstandard level 3 in Zarr, gzip-1 in HDF5.\n\n"
            + table(["format", "compression", "ratio", "write ms/sample", "read ms/sample"], rows))
    write_section("compression", body)


if __name__ == "__main__":
    main()
