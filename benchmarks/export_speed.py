"""What `pdegen export` costs beside the build it follows: seconds per sample and bytes
written, for recipes/navier_stokes.yaml's trajectories to The Well's layout (64², 51 states
with t = 0, the velocity derived) and recipes/darcy.yaml's pairs to neuraloperator's .pt files
(128²); one process, the stores built once, each export repeated (median), then the
store's own build time per sample for scale. Last, how fast The Well's WellDataset serves
windows of the export (1 state in, 1 out), items per second.

Usage: python benchmarks/export_speed.py [--samples 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.export import export  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402

CASES = (("navier_stokes", "well"), ("darcy", "neuraloperator"))


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows, reads = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for name, layout in CASES:
            store = Path(tmp) / f"{name}.zarr"
            recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", [f"samples={args.samples}", f"output.path={store}"])
            start = time.perf_counter()
            build(recipe, quiet=True)
            built = (time.perf_counter() - start) / args.samples
            seconds = []
            for repeat in range(args.repeats):
                out = Path(tmp) / f"{name}_{layout}"
                start = time.perf_counter()
                export(store, out, to=layout, overwrite=repeat > 0)
                seconds.append((time.perf_counter() - start) / args.samples)
            median = float(np.median(seconds))
            rows.append([name, "x".join(map(str, recipe["grid"]["shape"])), layout, f"{1e3 * median:.1f}",
                         f"{1e3 * built:.0f}", f"{median / built:.3f}", f"{size_of(out) / 2**20:.1f}",
                         f"{size_of(store) / 2**20:.1f}"])
            if layout == "well":
                try:
                    from the_well.data import WellDataset
                except ImportError:
                    continue
                data = WellDataset(path=str(out), well_split_name="train", n_steps_input=1, n_steps_output=1)
                start = time.perf_counter()
                count = min(len(data), 400)
                for index in range(count):
                    data[index]
                rate = count / (time.perf_counter() - start)
                reads = (f"The Well's `WellDataset` on the {name} export: {rate:.0f} windows per second (1 state in, "
                         f"1 out, velocity included, {count} windows read in order, one process).")
    text = (f"{args.samples} samples per store, one process; export: median of {args.repeats}, seconds per sample "
            "including the t = 0 states (drawn again from the seed) and the derived velocity; build: one run.\n\n"
            + table(["recipe", "grid", "export to", "export ms/sample", "build ms/sample", "export / build",
                     "export MiB", "store MiB"], rows) + ("\n\n" + reads if reads else ""))
    print(text)
    write_section("export_speed", text, petsc=True)


if __name__ == "__main__":
    main()
