"""DataLoader throughput from a 128x128 Darcy store (Zarr, 32-sample chunks, lz4;
4,096 samples = 128 chunks, more than the loader's cache of 32 decoded chunks per array):
samples/s with 0, 2 and 4 workers at batch size 32, shuffled, two passes, the second
timed. Compared with what an FNO step consumes, this says whether a GPU would wait.

Usage: python benchmarks/loader_speed.py [--samples 1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4096)
    args = parser.parse_args()
    from pdegen.train import PDEDataset, make_loader
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "d.zarr"
        build(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={args.samples}", f"output.path={store}",
                                                             "split={train: 1.0, val: 0.0, test: 0.0}"]), quiet=True)
        data = PDEDataset(store, "train", coordinates=True)
        for chunk_aware in (False, True):
            for workers in (0, 2, 4):
                loader = make_loader(data, batch_size=32, shuffle=True, num_workers=workers, chunk_aware=chunk_aware)
                for _ in loader:  # warm-up pass (worker start, page cache)
                    pass
                start = time.perf_counter()
                count = sum(len(x) for x, _ in loader)
                rows.append(["chunk-aware pools of 16 chunks" if chunk_aware else "uniform shuffle", workers,
                             f"{count / (time.perf_counter() - start):.0f}"])
                print(rows[-1], flush=True)
    body = (f"{args.samples} samples of 128x128 (input: coefficient + 2 coordinate channels; output: solution), "
            "batch 32, shuffled, second pass timed, 2-core machine.\n\n" + table(["sampling", "workers", "samples/s"], rows))
    write_section("loader_speed", body)


if __name__ == "__main__":
    main()
