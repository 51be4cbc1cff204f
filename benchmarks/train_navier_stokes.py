"""FNO accuracy on generated Navier–Stokes data, FNO's own task: the vorticity at t = 1..10
in, t = 11..50 out (recipes/navier_stokes.yaml: ν = 1e-3, ω0 ~ GRF(2.5, 7), FNO's forcing,
64², a state per time unit). Three ways to predict the 40 states, `pdegen train
--history 10 --scheme S`:

- at-once: one 2-D FNO maps the 10 states (and ω0, the coordinates) to 40 channels;
- rollout: FNO-2D's scheme, one state at a time from the last 10, each prediction fed
  back, trained through the whole rollout;
- space-time: FNO-3D's, time as a third axis of 40 slices (padded by 15%).

Li et al. (ICLR 2021), Table 2, ν = 1e-3, T = 50, 1,000 training samples: FNO-2D (the
rollout, 12 modes, width 20) 0.0128, FNO-3D 0.0086, relative L2 over the 40 states, after
500 epochs; their data was solved on 256² and kept on 64².

The full task (1,200 samples, 500 epochs) is GPU work: a rollout trains 40 FNO steps per
sample (0.5 s per sample on two CPU cores at 64², batch 20; at once: 0.011 s), and the
space-time FNO is slower still on the CPU (0.47 s per sample at 32², 3x the rollout). On an
H200 at 32², bfloat16: 382 samples/s for the rollout, 861 space-time, 12,307 at once, so the
full task's rollout alone needs 22 minutes or more. ``--size``, ``--samples`` and ``--epochs``
scale it down; the section (``--section``) records whatever was run, with its settings, a
row per scheme as each finishes. benchmarks/gpu/navier_stokes.sh runs it scaled to one GPU
lease. Building takes ~2.5 s per 64² sample on one core (pseudo-spectral, no PETSc needed,
so a GPU machine can build it too); a store built elsewhere:

    mpiexec -n 2 pdegen build recipes/navier_stokes.yaml --samples 1200 -o ns.zarr
    python benchmarks/train_navier_stokes.py --store ns.zarr --device cuda

Usage: python benchmarks/train_navier_stokes.py [--store PATH] [--samples 1200] [--size 64]
       [--epochs 500] [--device auto] [--schemes at-once rollout space-time]
       [--section train_navier_stokes]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import write_section  # noqa: E402
from benchmarks.training import HEADER, device_name, store_or_build, train_row, trajectory_facts  # noqa: E402

HISTORY = 10  # FNO's: t = 1..10 in
SCHEMES = ("at-once", "rollout", "space-time")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="a store built from recipes/navier_stokes.yaml (50 states)")
    parser.add_argument("--samples", type=int, default=1200, help="built when no --store (80/10/10 split)")
    parser.add_argument("--size", type=int, default=64, help="grid side of the built store")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, default=list(SCHEMES))
    parser.add_argument("--float32", action="store_true", help="no bfloat16 autocast on CUDA")
    parser.add_argument("--section", default="train_navier_stokes",
                        help="docs/benchmarks.md's section to write (a GPU run beside a CPU one: another name)")
    args = parser.parse_args()
    from pdegen.store import open_dataset
    with tempfile.TemporaryDirectory() as tmp:
        store, built = store_or_build(args.store, tmp, "navier_stokes", [
            f"samples={args.samples}", f"grid.shape=[{args.size},{args.size}]"])
        shape, times, splits = trajectory_facts(store)
        with open_dataset(store) as ds:
            failed = int((~ds["stats/converged"][:]).sum())
            nu = ds.attrs["recipe"]["parameters"]["viscosity"]  # a --store's own
            viscosity = f"{nu['value']:g}" if "value" in nu else "drawn per sample"
        if len(times) <= HISTORY:
            raise SystemExit(f"{store}: {len(times)} stored states; the task takes the first {HISTORY} as inputs")
        grid = "x".join(map(str, shape[2:]))
        task = (f"Navier–Stokes ν = {viscosity}, vorticity at t = {times[0]:g}..{times[HISTORY - 1]:g} in, "
                f"t = {times[HISTORY]:g}..{times[-1]:g} out ({len(times) - HISTORY} states), {grid}; "
                f"{splits['train']:,} train / {splits['val']:,} val / {splits['test']:,} test samples{built}"
                + (f", {failed} failed" if failed else "") + f"; FNO {args.modes} modes, width {args.width}, "
                f"4 layers, AdamW + one-cycle (peak {args.lr:g}), batch {args.batch_size}, {args.epochs} epochs on ")
        rows = []
        for scheme in args.schemes:
            cells, metrics = train_row(store, Path(tmp) / scheme, amp=not args.float32, epochs=args.epochs,
                                       batch_size=args.batch_size, lr=args.lr, device=args.device, modes=args.modes,
                                       width=args.width, history=HISTORY, scheme=scheme)
            rows.append(f"| {scheme} | {cells} |")
            print(rows[-1], flush=True)
            # Written after each scheme: a run stopped in a later one keeps the rows it finished.
            record(args.section, task + device_name(metrics), rows)


def record(section: str, task: str, rows: list[str]) -> None:
    """docs/benchmarks.md's ``section``: the ``task`` and the rows trained so far."""
    body = (f"{task}. Relative L2 over all predicted states, physical units, per sample. FNO's "
            "Table 2 (1,000 train samples, 500 epochs, 64²): FNO-2D (rollout) 0.0128, FNO-3D 0.0086.\n\n"
            + HEADER.replace("| precision |", "| scheme | precision |").replace("|---|", "|---|---|", 1)
            + "\n".join(rows))
    print(body)
    write_section(section, body, command=" ".join(["python benchmarks/train_navier_stokes.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
