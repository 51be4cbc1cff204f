"""Why `solvers` sets OPENBLAS_NUM_THREADS=1: `pdegen bench` on recipes/darcy.yaml (128²)
in fresh processes with OpenBLAS single-threaded (pdegen's default) and with one thread
per core (OpenBLAS's own default), alternating, median of the rounds.

PETSc's vector kernels (VecDot, VecAXPY, VecNorm) call BLAS, and OpenBLAS splits a call
over its threads once a vector is long enough (16,384 entries at 128² is); the numbers
below say what that costs here.

Usage: python benchmarks/blas_threads.py [--rounds 3] [--samples 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402

STRATEGIES = ["auto", "direct-reuse"]


def bench(threads: int, samples: int) -> dict:
    """{strategy: later-samples ms/sample} from one `pdegen bench` process."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads)}
    env.pop("OMP_NUM_THREADS", None)  # OpenBLAS falls back to it: leave only the setting under test
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        command = [sys.executable, "-m", "pdegen.cli", "bench", str(ROOT / "recipes" / "darcy.yaml"),
                   "--samples", str(samples), "--repeats", "1", "--json", str(out)]
        for name in STRATEGIES:
            command += ["--strategy", name]
        subprocess.run(command, check=True, env=env, cwd=ROOT, capture_output=True)
        report = json.loads(out.read_text())
    assert all(r["failures"] == 0 for r in report["results"]), report["results"]
    return {r["name"]: r["later_ms_per_sample"] for r in report["results"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=24)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = [1, cores]
    times = {t: {name: [] for name in STRATEGIES} for t in settings}
    for round_ in range(args.rounds):
        for threads in (settings if round_ % 2 == 0 else settings[::-1]):
            for name, ms in bench(threads, args.samples).items():
                times[threads][name].append(ms)
            print(round_, threads, {k: v[-1] for k, v in times[threads].items()}, flush=True)
    rows = []
    for name in STRATEGIES:
        one, many = (np.median(times[t][name]) for t in settings)
        rows.append([name, f"{one:.2f}", f"{many:.2f}", f"**{many / one:.2f}x**"])
    write_section("blas_threads", (
        f"`pdegen bench recipes/darcy.yaml` (128x128, {args.samples} samples, later samples' ms/sample), "
        f"fresh processes alternating between OPENBLAS_NUM_THREADS=1 and ={cores} (one per core), "
        f"median of {args.rounds} rounds.\n\n"
        + table(["strategy", "1 thread ms/sample", f"{cores} threads ms/sample", "slow-down with threads"], rows)),
        petsc=True)


if __name__ == "__main__":
    main()
