"""FNO accuracy on generated Burgers data, FNO's own task: u0 -> u(t = 1) on 1024 cells,
recipes/burgers.yaml (ν = 0.1, u0 ~ N(0, 625 (-Δ + 25)^-2), 1,200 samples) with only the
last state stored (``discretization.steps`` = 1: one stored state, each sample its own steps); FNO (neuraloperator) with
16 modes, width 64, 4 layers as in the paper; relative L2 error of the best-validation
checkpoint on the test split. Li et al. (ICLR 2021), Table 1, report 0.0139-0.0160 for
FNO on their data at resolutions 256-8192 (1,000 train / 200 test samples, 500 epochs).

Building 1,200 samples takes about 12 min on one core (6 under ``mpiexec -n 2``);
on a GPU machine without PETSc pass a store built elsewhere:

    mpiexec -n 2 pdegen build recipes/burgers.yaml --set discretization.steps=1 \
        --set discretization.start_refinement=0 -o burgers_fno.zarr
    python benchmarks/train_burgers.py --store burgers_fno.zarr --device cuda

Usage: python benchmarks/train_burgers.py [--store PATH] [--epochs 500] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import write_section  # noqa: E402
from benchmarks.training import device_name, store_or_build, train_in_precisions, trajectory_facts  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="a store built from recipes/burgers.yaml with save_every = steps")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--modes", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--both-precisions", action="store_true",
                        help="train twice, with bfloat16 autocast (the default on CUDA) and in float32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        u1_only = ["discretization.steps=1", "discretization.start_refinement=0"]  # FNO's task: u(1) alone
        store, built = store_or_build(args.store, tmp, "burgers", u1_only)
        shape, times, splits = trajectory_facts(store)
        if len(times) != 1 or abs(times[0] - 1.0) > 1e-12:
            raise SystemExit(f"{store}: stores the states at t = {list(times)}; FNO's task wants u(t = 1) alone "
                             "(build with --set discretization.steps=1 --set discretization.start_refinement=0)")
        amps = (True, False) if args.both_precisions else (True,)
        table, metrics = train_in_precisions(store, Path(tmp), amps, epochs=args.epochs, batch_size=args.batch_size,
                                             lr=args.lr, device=args.device, modes=args.modes, width=args.width)
    body = (f"Burgers u0 -> u(1), {shape[-1]} cells, {splits['train']:,} train / {splits['val']:,} val / "
            f"{splits['test']:,} test samples{built}, FNO {args.modes} modes, width {args.width}, 4 layers, AdamW + "
            f"one-cycle (peak {args.lr:g}), batch {args.batch_size}, {args.epochs} epochs on {device_name(metrics)}. "
            f"Relative L2 in physical units, per sample. The FNO paper's Table 1: 0.0139-0.0160 at resolutions "
            f"256-8192.\n\n" + table)
    print(body)
    write_section("train_burgers", body)


if __name__ == "__main__":
    main()
