"""Does PETSc's own optimisation level matter for pdegen's solves? Two builds of the same
PETSc version, run in alternating processes on the same systems.

PyPI's ``petsc`` configured with ``--with-debugging=0`` compiles with ``-g -O`` (-O1);
``scripts/install-python.sh`` passes ``COPTFLAGS=-O3``. Each process assembles 45 Darcy
systems (128², exp(GRF)) and times, per system, CG + geometric multigrid (warm-started;
in red-black numbering with one full-multigrid start cycle, the planner's choice there,
and in C order) and a Cholesky solve reusing one matrix and its symbolic factorisation
(the expert baseline). Pairs of processes alternate which build runs
first; the result is the median over pairs of each pair's time ratio.

The baseline is the PETSc petsc4py loads; the other build is swapped in through
LD_LIBRARY_PATH (petsc4py finds libpetsc through its RUNPATH, which LD_LIBRARY_PATH
overrides). Build one, e.g. at -O1 beside an -O3 install:

    PETSC_CONFIGURE_OPTIONS="--with-debugging=0 --with-fc=0 --with-fortran-bindings=0 \\
        --with-cuda=0 --with-shared-libraries=1" \\
        pip install --no-cache-dir --no-deps --target /tmp/petsc_other "petsc==3.26.*"

Usage: python benchmarks/petsc_optflags.py --other /tmp/petsc_other/petsc/lib [--pairs 10]
(not in run_all: it needs the second build).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import loaded_libpetsc, petsc_cc_flags, table, write_section  # noqa: E402

SYSTEMS, SKIPPED, N = 45, 5, 128  # the first solves set up hierarchies and symbolic factors


def child() -> None:
    """One process: median ms per solve of each strategy, and the library it loaded."""
    from petsc4py import PETSc  # noqa: F401  (loads libpetsc)

    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    from solvers.multigrid import GeometricMG
    grid = Grid((N, N), ((0, 1), (0, 1)))
    rng = np.random.default_rng(0)
    systems = [assemble_diffusion(grid, np.exp(gaussian_random_field((N, N), 2.5, 7.0, rng)), 1.0)
               for _ in range(SYSTEMS)]
    out = {}

    def mg(ordering, cycles):
        return KSPSolver("cg", "mg", rtol=1e-8, prefix=f"{ordering}_",
                         multigrid=GeometricMG((N, N), coarse="aggregation", ordering=ordering, start_cycles=cycles))
    for name, solver, warm in (("mg", mg("red-black", 1), True), ("mg-c-order", mg("natural", 0), True),
                               ("cholesky", KSPSolver("preonly", "cholesky", prefix="reuse_"), False)):
        x, times = None, []
        for A, b in systems:
            start = time.perf_counter()
            x, info = solver.solve(A, b, x if warm else None)
            times.append(time.perf_counter() - start)
            assert info.converged, info
        out[name] = 1e3 * float(np.median(times[SKIPPED:]))
    out["library"] = loaded_libpetsc()
    print(json.dumps(out))


def run(lib_dir: Path | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if lib_dir is not None:
        env["LD_LIBRARY_PATH"] = f"{lib_dir}:{env.get('LD_LIBRARY_PATH', '')}"
    done = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, help="lib directory of the second PETSc build")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()
    if args.other is None or not (args.other / "petsc" / "conf" / "petscvariables").exists():
        parser.error(f"--other must be the lib directory of a PETSc build (holding petsc/conf/petscvariables); "
                     f"got {args.other}")
    import petsc
    base_dir = Path(petsc.get_petsc_dir()) / "lib"
    labels = {"base": petsc_cc_flags(base_dir), "other": petsc_cc_flags(args.other)}
    runs = {"base": [], "other": []}
    for pair in range(args.pairs):
        for which in (("base", "other") if pair % 2 == 0 else ("other", "base")):
            result = run(None if which == "base" else args.other)
            runs[which].append(result)
            print(which, result, flush=True)
    if runs["base"][0]["library"] == runs["other"][0]["library"]:
        sys.exit(f"both runs loaded {runs['base'][0]['library']}: LD_LIBRARY_PATH did not take")
    rows = []
    names = {"mg": "CG + geometric MG, red-black + 1 start cycle (the planner's), warm start",
             "mg-c-order": "CG + geometric MG, C order, warm start",
             "cholesky": "Cholesky, symbolic factorisation reused"}
    for strategy, name in names.items():
        base = np.array([r[strategy] for r in runs["base"]])
        other = np.array([r[strategy] for r in runs["other"]])
        ratio = other / base
        rows.append([name, f"{np.median(base):.2f}", f"{np.median(other):.2f}",
                     f"**{np.median(ratio):.2f}** ({ratio.min():.2f}-{ratio.max():.2f})",
                     f"{(ratio < 1).sum()} of {ratio.size}"])
    write_section("petsc_optflags", (
        f"Darcy 128², {SYSTEMS - SKIPPED} systems per process, median ms per solve; {args.pairs} pairs of processes "
        f"alternating which build runs first. Base build: `{labels['base']}`; other build: `{labels['other']}`.\n\n"
        + table(["solve", f"ms, `{labels['base']}`", f"ms, `{labels['other']}`", "other / base, median of pairs",
                 "pairs where other is faster"], rows)))


if __name__ == "__main__":
    main()
