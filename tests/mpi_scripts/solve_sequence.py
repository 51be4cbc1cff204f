"""Run under mpiexec: GCRO-DR on the PETSc backend with the matrix distributed by rows.
Writes iteration counts, residuals, warm-start scales (rank 0's) and the gathered solutions
(rank 0) to argv[1] (.npz)."""

import sys
from pathlib import Path

import numpy as np
from petsc4py import PETSc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from problems import convection_diffusion, darcy_sequence  # noqa: E402
from solvers import GCRODR  # noqa: E402

comm = PETSc.COMM_WORLD
rank, size = comm.getRank(), comm.getSize()
kind, preconditioner = sys.argv[2], sys.argv[3]
if kind == "darcy":
    systems = darcy_sequence(n=32, count=6)
else:
    systems = [convection_diffusion(30, 0.3 + 0.1 * i) for i in range(6)]
n = systems[0][0].shape[0]
lo, hi = n * rank // size, n * (rank + 1) // size
solver = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc", preconditioner=preconditioner, comm=comm)
iterations, residuals, solutions, scales = [], [], [], []
x_local = None
for i, (A, b) in enumerate(systems):
    # Every other warm start is made worse than zero (the previous solution times -3), so
    # that the solver scales it: the scale is a global quantity, the same on every rank.
    x0 = None if x_local is None else x_local * (-3.0 if i % 2 else 1.0)
    x_local, info = solver.solve(A[lo:hi], b[lo:hi], x0=x0, global_size=n)
    iterations.append(info.iterations)
    residuals.append(info.residual)
    scales.append(info.extra.get("guess_scale", np.nan))  # nan for the first, cold solve
    solutions.append(np.concatenate(comm.tompi4py().allgather(x_local)))
if rank == 0:
    np.savez(sys.argv[1], iterations=iterations, residuals=residuals, solutions=np.array(solutions),
             guess_scales=scales)
