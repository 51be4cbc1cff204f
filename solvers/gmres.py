"""Restarted GMRES(m) with right preconditioning, on the same backend and cost model as
GCRO-DR (classical Gram-Schmidt Arnoldi with one reduction per step, reorthogonalised when
needed with ``orthogonalization="cgs2"``; one preconditioner application per step;
convergence on the true residual at the end of each cycle).

Reference: Y. Saad and M. H. Schultz, "GMRES: a generalized minimal residual algorithm
for solving nonsymmetric linear systems", SIAM J. Sci. Stat. Comput. 7(3), 1986.

Example
-------
>>> import numpy as np, scipy.sparse as sp
>>> A = sp.diags([-1, 2.5, -1], [-1, 0, 1], shape=(100, 100), format="csr")
>>> x, info = GMRES(m=20, rtol=1e-10).solve(A, np.ones(100))
>>> bool(info.converged), bool(np.linalg.norm(np.ones(100) - A @ x) <= 1e-10 * 10)
(True, True)
"""

from __future__ import annotations

import time

import numpy as np

from .base import SequenceSolver
from .kernels import arnoldi_cycle


class GMRES(SequenceSolver):
    """GMRES(m). Keeps nothing between systems except the preconditioner."""

    def __init__(self, m=40, rtol=1e-8, maxiter=10000, backend="numpy", preconditioner="none",
                 options=None, comm=None, rebuild="never", growth=1.5, orthogonalization="cgs", pc_side="right",
                 scale_guess=True):
        super().__init__(rtol, maxiter, backend, preconditioner, options, comm, rebuild, growth, orthogonalization,
                         pc_side, scale_guess)
        if m < 1:
            raise ValueError(f"m must be >= 1; got {m}")
        self.m = int(m)
        self.name = f"gmres({self.m})"

    def reset(self) -> None:
        """Nothing is recycled; present for the common interface."""

    def solve(self, A, b, x0=None, M=None, global_size=None):
        start = time.perf_counter()
        b, x, _, rebuilt = self._prepare(A, b, x0, M, global_size)
        be = self.backend
        bnorm = be.norm(b)
        if bnorm == 0.0:
            return np.zeros_like(b), self._info(np.zeros_like(b), 0, start, "zero right-hand side")
        target = self.rtol * bnorm
        stats = {"rebuilt": rebuilt}
        r = self._initial_residual(b, x, x0 is not None, stats)
        rnorm = be.norm(r)
        iterations, reason = 0, "maxiter"
        basis = np.empty((b.size, self.m + 1), order="F")
        while rnorm > target and iterations < self.maxiter:
            steps = min(self.m, self.maxiter - iterations)
            cycle = arnoldi_cycle(be, basis, 0, r, rnorm, steps, 0.99 * target, self.refine)
            iterations += cycle.steps
            x += be.apply_M(basis[:, : cycle.steps] @ cycle.y)
            r = b - be.apply_A(x)
            rnorm = be.norm(r)
            if not np.isfinite(rnorm):
                reason = "non-finite residual"
                break
        else:
            reason = "converged" if rnorm <= target else reason
        return x, self._info(x, iterations, start, reason, **stats)
