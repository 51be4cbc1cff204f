"""FNO accuracy on generated Darcy data: 64x64, 1,250 samples (1,000 train / 125 val /
125 test), a = exp(GRF(2.5, 7)), f = 1; FNO (neuraloperator) with 12 modes, width 32,
4 layers; relative L2 error of the best-validation checkpoint on the test split.

Usage: python benchmarks/train_darcy.py [--epochs 100] [--device auto] [--backend petsc]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import write_section  # noqa: E402
from benchmarks.training import device_name, train_in_precisions  # noqa: E402
from pdegen.build import build  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", choices=["petsc", "numpy"], default="petsc",
                        help="solver backend for building the store (numpy where PETSc is not installed)")
    parser.add_argument("--both-precisions", action="store_true",
                        help="train twice, with bfloat16 autocast (the default on CUDA) and in float32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "darcy64.zarr"
        recipe = load_recipe(ROOT / "recipes" / "darcy.yaml",
                             ["samples=1250", "grid.shape=[64,64]", f"output.path={store}",
                              f"solver.backend={args.backend}"])
        start = time.perf_counter()
        build(recipe, quiet=True)
        t_build = time.perf_counter() - start
        table, metrics = train_in_precisions(store, Path(tmp), args.both_precisions, epochs=args.epochs,
                                             batch_size=args.batch_size, lr=3e-3, device=args.device)
    body = (f"Darcy 64x64, 1,000 train / 125 val / 125 test samples (built in {t_build:.0f} s), FNO 12 modes, "
            f"width 32, 4 layers, AdamW + one-cycle (peak 3e-3), batch {args.batch_size}, {args.epochs} epochs on "
            f"{device_name(metrics)}. Relative L2 in physical units, per sample.\n\n" + table)
    print(body)
    write_section("train_darcy", body)


if __name__ == "__main__":
    main()
