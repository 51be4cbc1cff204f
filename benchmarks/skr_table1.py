"""The SKR paper's Darcy setting, reproduced: sorted GCRO-DR(40,20) warm-started vs
GMRES(40) from zero, on the paper's own matrix (``build_darcy``: diagonal 4 a_i,
off-diagonals -a_neighbour, s x s grid with s = 82, n = 6400 interior unknowns,
b = h^2), a = exp(GRF(alpha=2.5, tau=7)), 100 systems in greedy nearest-neighbour order,
PETSc preconditioners rebuilt per system, maxiter 10000. Then the same on pdegen's
conservative finite-volume Darcy matrix.

GMRES(40) is PETSc's KSPGMRES (C, right preconditioning, classical Gram-Schmidt) from
a zero guess, as in the paper; GCRO-DR is ours (Python orchestration, PETSc kernels).
Timings are solve times only (no process start or file I/O, unlike the paper's).

Why our ratios are far below the paper's: the paper's iteration speedups (14-29x) imply
GMRES(40) iteration counts 10-20 times those of GCRO-DR; here GMRES(40) with ILU needs 41
iterations at 1e-5 and GCRO-DR 27, so recycling has little to remove, and GCRO-DR's
per-system cost (k = 20 extra operator and preconditioner applications to refresh
C = A M^-1 U, plus a larger orthogonalisation basis and the per-cycle harmonic Ritz update)
outweighs it. The paper also times process start and PETSc binary file I/O per system,
and compares a warm-started GCRO-DR with GMRES from zero (we do the same, and say so).
Unpreconditioned, our iteration ratio is 2.9 (paper 21.1). We have not found the cause
of that gap; candidates are the coefficient field actually used (our GRF follows the
FNO normalisation, std 0.26 at α = 2.5, τ = 7) and the convergence test (PETSc's default
is relative to the preconditioned initial residual, ours to ||b||); settling it needs
the paper's matrices.

Usage: python benchmarks/skr_table1.py [--systems 100] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.families.darcy import assemble_diffusion  # noqa: E402
from pdegen.fields import gaussian_random_field, sample_rng  # noqa: E402
from pdegen.grid import Grid  # noqa: E402
from pdegen.ordering import greedy_order  # noqa: E402

PAPER = Path(__file__).resolve().parents[2] / "shared" / "reference" / "skr_table1.csv"


def skr_darcy_matrix(a: np.ndarray) -> sp.csr_matrix:
    """The paper's build_darcy: on the interior of an s x s grid, A[i,i] = 4 a_i and
    A[i,j] = -a_j for each interior 4-neighbour j (not symmetric)."""
    interior = a[1:-1, 1:-1]
    m = interior.shape[0]
    index = np.arange(m * m).reshape(m, m)
    rows, cols, vals = [index.ravel()], [index.ravel()], [4.0 * interior.ravel()]
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        src = index[max(0, -di): m - max(0, di), max(0, -dj): m - max(0, dj)]
        dst = index[max(0, di): m - max(0, -di) or None, max(0, dj): m - max(0, -dj) or None]
        rows.append(src.ravel())
        cols.append(dst.ravel())
        vals.append(-interior.ravel()[dst.ravel()])
    n = m * m
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def systems(kind: str, count: int, seed: int = 2024):
    s = 82
    fields = [np.exp(gaussian_random_field((s, s), 2.5, 7.0, sample_rng(seed, i))) for i in range(count)]
    features = np.stack([f.ravel() for f in fields])  # the paper sorts by the Frobenius distance
    order = greedy_order(features)
    out = []
    for i in order:
        if kind == "skr":
            A = skr_darcy_matrix(fields[i])
            out.append((A, np.full(A.shape[0], (1.0 / (s - 1)) ** 2)))
        else:
            grid = Grid((s - 2, s - 2), ((0, 1), (0, 1)))
            out.append(assemble_diffusion(grid, fields[i][1:-1, 1:-1], 1.0))
    return out


def run(seq, pc: str, rtol: float):
    from solvers import GCRODR
    from solvers.ksp import KSPSolver
    gmres = KSPSolver("gmres", pc, rtol=rtol, maxiter=10000,
                      options={"ksp_gmres_restart": 40, "ksp_orthogonalization": "cgs"}, prefix="bench_gmres_")
    gcrodr = GCRODR(m=40, k=20, rtol=rtol, maxiter=10000, backend="petsc", preconditioner=pc, rebuild="always")
    totals = {"gmres": [0.0, 0, 0], "gcrodr": [0.0, 0, 0]}  # seconds, iterations, failures
    x = None
    for A, b in seq:  # interleaved, so both see the same machine state
        t = time.perf_counter()
        _, info = gmres.solve(A, b)
        totals["gmres"][0] += time.perf_counter() - t
        totals["gmres"][1] += info.iterations
        totals["gmres"][2] += not info.converged
        t = time.perf_counter()
        x, info = gcrodr.solve(A, b, x0=x)
        totals["gcrodr"][0] += time.perf_counter() - t
        totals["gcrodr"][1] += info.iterations
        totals["gcrodr"][2] += not info.converged
    return totals


def paper_table() -> dict:
    out = {}
    for line in PAPER.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        dataset, n, rtol, pc, ts, its = line.split(",")
        if dataset == "darcy":
            out[(float(rtol), pc)] = (float(ts), float(its))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20 systems, rtol 1e-5 only; no docs update")
    args = parser.parse_args()
    count = 20 if args.quick else args.systems
    rtols = (1e-5,) if args.quick else (1e-5, 1e-8)
    pcs = ("none", "jacobi", "bjacobi", "sor", "asm", "ilu")
    paper = paper_table() if PAPER.exists() else {}
    sections = []
    for kind, title in (("skr", "The paper's matrix (build_darcy, nonsymmetric)"),
                        ("fv", "pdegen's conservative FV Darcy matrix (SPD)")):
        seq = systems(kind, count)
        rows = []
        for rtol in rtols:
            for pc in pcs:
                r = run(seq, pc, rtol)
                g, c = r["gmres"], r["gcrodr"]
                ts = g[0] / c[0]
                its = g[1] / max(c[1], 1)
                ref = paper.get((rtol, pc), ("-", "-"))
                rows.append([f"{rtol:.0e}", pc, f"{1e3 * g[0] / count:.1f}", f"{g[1] / count:.0f}",
                             f"{1e3 * c[0] / count:.1f}", f"{c[1] / count:.0f}", f"**{ts:.2f}**", f"**{its:.1f}**",
                             f"{ref[0]} / {ref[1]}" if kind == "skr" else "", f"{g[2]}/{c[2]}"])
                print(kind, rows[-1], flush=True)
        sections.append(f"### {title}\n\n" + table(
            ["rtol", "PC", "GMRES(40) ms/system", "GMRES its", "GCRO-DR(40,20) ms/system", "GCRO-DR its",
             "time speedup", "iteration speedup", "paper time / its", "failures G/R"], rows))
    if not args.quick:
        write_section("skr_table1", (
            f"{count} Darcy systems (a = exp(GRF(2.5, 7)) on 82x82, n = 6400), greedy order; GMRES(40) = "
            "PETSc KSPGMRES from zero; GCRO-DR(40,20) = solvers.GCRODR (PETSc backend) warm-started from the "
            "previous solution; preconditioner rebuilt for each system; solve time only.\n\n"
            + "\n\n".join(sections)))


if __name__ == "__main__":
    main()
