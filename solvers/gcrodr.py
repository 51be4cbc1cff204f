"""GCRO-DR(m, k): restarted GMRES that deflates with a recycled subspace, carried from
cycle to cycle and from one linear system to the next.

Reference: M. L. Parks, E. de Sturler, G. Mackey, D. D. Johnson and S. Maiti,
"Recycling Krylov subspaces for sequences of linear systems", SIAM J. Sci. Comput.
28(5), 1651-1674, 2006 (Algorithm 2.1 there, right preconditioned here).

With B = A M^-1 the solver keeps U (n x k, in the preconditioned variable) and
C = B U with orthonormal columns. For each system:

1. if A or M changed, C = B U is recomputed and orthonormalised, U transformed to
   match (directions that became degenerate are dropped, not kept ill-conditioned);
2. a warm start x0 worse than a zero start is scaled to minimise ||b - alpha A x0||
   (``scale_guess``, see :class:`solvers.base.SequenceSolver`), and the initial residual
   is projected out of range(C): x += M^-1 U C^T r, r -= C C^T r;
3. each cycle runs m - k Arnoldi steps of (I - C C^T) B, minimises the residual over
   range([U, V]) and updates U and C from the k harmonic Ritz vectors of smallest
   modulus of the augmented problem (Parks et al., eq. 2.16).

Convergence is judged on the true residual ||b - A x|| at the end of every cycle (with
``pc_side="left"`` on M^-1 (b - A x): the method then runs on M^-1 A, see
:class:`solvers.base.SequenceSolver`). In exact arithmetic the residual never grows; if
it does (a corrupted recycle space, the failure mode of several implementations), the
recycle space is dropped and the cycle restarts as GMRES: ``info.extra["resets"]``
counts these events.

Example
-------
>>> import numpy as np, scipy.sparse as sp
>>> A = sp.diags([-1, 2.05, -1], [-1, 0, 1], shape=(400, 400), format="csr")
>>> solver = GCRODR(m=30, k=10, rtol=1e-8)
>>> x, first = solver.solve(A, np.ones(400))
>>> x, second = solver.solve(A, np.linspace(1, 2, 400))   # recycles U from the first solve
>>> second.iterations < first.iterations
True
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla

from .base import SequenceSolver
from .kernels import arnoldi_cycle, combine, harmonic_ritz, orthonormalize


class GCRODR(SequenceSolver):
    def __init__(self, m=40, k=20, rtol=1e-8, maxiter=10000, backend="numpy", preconditioner="none",
                 options=None, comm=None, rebuild="never", growth=1.5, orthogonalization="cgs", pc_side="right",
                 scale_guess=True):
        super().__init__(rtol, maxiter, backend, preconditioner, options, comm, rebuild, growth, orthogonalization,
                         pc_side, scale_guess)
        if not 0 <= k < m:
            raise ValueError(f"need 0 <= k < m; got m={m}, k={k}")
        self.m, self.k = int(m), int(k)
        self.name = f"gcrodr({self.m},{self.k})"
        self.U: np.ndarray | None = None
        self.C: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the recycle space."""
        self.U = self.C = None

    def use_recycle_space(self, U: np.ndarray) -> None:
        """Start the next solve from the recycle space spanned by the columns of ``U``
        (this rank's rows, preconditioned variable), e.g. approximate eigenvectors known
        in advance. C = A M^-1 U is formed, and U rescaled to match, at the next solve."""
        U = np.asarray(U, dtype=np.float64)
        if U.ndim != 2 or U.shape[1] == 0:
            raise ValueError(f"U must be a non-empty (n, k) array; got shape {U.shape}")
        self.U, self.C = np.asfortranarray(U[:, : self.k]), None

    @property
    def recycle_dimension(self) -> int:
        return 0 if self.U is None else self.U.shape[1]

    def _refresh_recycle_space(self) -> None:
        """C = A M^-1 U for the current operator and preconditioner, orthonormalised."""
        be = self.backend
        AU = np.column_stack([be.apply_A(be.apply_M(self.U[:, i])) for i in range(self.U.shape[1])])
        C, U = orthonormalize(be, AU, companion=self.U)
        if C.shape[1] == 0:
            self.reset()
        else:
            self.C, self.U = C, U

    def solve(self, A, b, x0=None, M=None, global_size=None):
        start = time.perf_counter()
        b, x, changed, rebuilt = self._prepare(A, b, x0, M, global_size)
        be = self.backend
        stats = {"rebuilt": rebuilt, "resets": 0, "recycle_matvecs": 0}
        bnorm = be.norm(b)
        if bnorm == 0.0:
            return np.zeros_like(b), self._info(np.zeros_like(b), 0, start, "zero right-hand side", **stats)
        target = self.rtol * bnorm
        if self.U is not None and self.k > 0 and (changed or rebuilt or self.C is None):
            stats["recycle_matvecs"] = self.U.shape[1]
            self._refresh_recycle_space()
        r = self._initial_residual(b, x, x0 is not None, stats)
        if self.C is not None:
            coefficients = be.dot(self.C, r)
            x += be.apply_M(self.U @ coefficients)
            r = r - self.C @ coefficients
        rnorm = be.norm(r)
        iterations, reason = 0, "maxiter"
        while rnorm > target and iterations < self.maxiter:
            before = (x, r, rnorm)
            budget = self.maxiter - iterations
            if self.C is None or self.k == 0:
                x, r, rnorm, steps = self._gmres_cycle(b, x, r, rnorm, target, budget)
            else:
                x, r, rnorm, steps = self._recycling_cycle(b, x, r, rnorm, target, budget)
            iterations += steps
            if not np.isfinite(rnorm) or rnorm > 1.0001 * before[2]:
                # Impossible for a minimal-residual method in exact arithmetic: the recycle
                # space is corrupted. Undo the cycle, drop the space, go on as GMRES from
                # the true residual (the residual kept in `before` came from projecting
                # with the corrupted C, so it may not be b - A x at all).
                stats["resets"] += 1
                self.reset()
                x = before[0]
                if not np.all(np.isfinite(x)):
                    x = np.zeros_like(b)
                r = b - be.apply_A(x)
                rnorm = be.norm(r)
        else:
            reason = "converged" if rnorm <= target else reason
        return x, self._info(x, iterations, start, reason, recycle=self.recycle_dimension, **stats)

    def _gmres_cycle(self, b, x, r, rnorm, target, budget):
        """A plain GMRES(m) cycle; afterwards U, C come from its harmonic Ritz vectors."""
        be = self.backend
        steps = min(self.m, budget)
        basis = np.empty((b.size, steps + 1), order="F")
        cycle = arnoldi_cycle(be, basis, 0, r, rnorm, steps, 0.99 * target, self.refine)
        j = cycle.steps
        x = x + be.apply_M(basis[:, :j] @ cycle.y)
        r = b - be.apply_A(x)
        if self.k > 0 and j > 0:
            identity = np.eye(j + 1, j)
            P = harmonic_ritz(cycle.H, identity, min(self.k, j))
            if P is not None and P.shape[1] > 0:
                Q, R = np.linalg.qr(cycle.H @ P)
                self._set_recycle_space(combine(((basis[:, : j + 1], Q),)), ((basis[:, :j], P),), R)
        return x, r, be.norm(r), j

    def _recycling_cycle(self, b, x, r, rnorm, target, budget):
        """One GCRO-DR cycle: Arnoldi against C, minimise over [U V], update U and C."""
        be = self.backend
        C, U = self.C, self.U
        k = C.shape[1]
        # The true residual has drifted out of range(C)^⊥ by rounding: project again, or
        # V_1 is not orthogonal to C and the orthonormality of C decays cycle by cycle.
        coefficients = be.dot(C, r)
        r = r - C @ coefficients
        rnorm = be.norm(r)
        steps = max(1, min(self.m - k, budget))
        basis = np.empty((b.size, k + steps + 1), order="F")
        basis[:, :k] = C
        cycle = arnoldi_cycle(be, basis, k, r, rnorm, steps, 0.99 * target, self.refine)
        j = cycle.steps
        # Minimiser over [U V]: y2 from the Hessenberg LS, the U part cancels C^T r
        # (including the component removed by the projection above).
        z = basis[:, k: k + j] @ cycle.y - U @ (cycle.B @ cycle.y - coefficients)
        x = x + be.apply_M(z)
        r = b - be.apply_A(x)
        rnorm = be.norm(r)
        if j > 0:
            self._update_recycle_space(basis, U, cycle)
        return x, r, rnorm, j

    def _update_recycle_space(self, basis, U, cycle):
        """Harmonic Ritz update of Parks et al. (2006), eqs. (2.15)-(2.18), with
        Ŵ = [C, V_{j+1}] = basis[:, :k+j+1] and V̂ = [U D, V_j], D = diag(1/||u_i||)."""
        be = self.backend
        k, j = U.shape[1], cycle.steps
        W = basis[:, : k + j + 1]
        scale = 1.0 / np.maximum(be.column_norms(U), 1e-300)
        G = np.zeros((k + j + 1, k + j))
        G[:k, :k] = np.diag(scale)
        G[:k, k:] = cycle.B
        G[k:, k:] = cycle.H
        WtV = np.zeros((k + j + 1, k + j))
        WtV[:, :k] = be.dot(W, U) * scale  # [C^T U D; V^T U D]
        WtV[k:, k:] = np.eye(j + 1, j)
        P = harmonic_ritz(G, WtV, self.k)
        if P is None or P.shape[1] == 0:
            return  # keep the current recycle space
        Q, R = np.linalg.qr(G @ P)
        U_tilde = ((U, scale[:, None] * P[:k]), (basis[:, k: k + j], P[k:]))  # Ũ = U D P_1 + V_j P_2
        self._set_recycle_space(combine(((W, Q),)), U_tilde, R)

    def _set_recycle_space(self, C, U_tilde, R):
        """C = Ŵ Q and U = Ũ R^-1, dropping directions where R is (nearly) singular.
        ``U_tilde`` is a sum of blocks times small coefficient matrices (as for
        :func:`combine`): R^-1 is applied to the coefficients, so U costs one pass."""
        d = np.abs(np.diag(R))
        if d.size == 0 or d.max() == 0:
            return
        if d.min() < 1e-12 * d.max():  # degenerate: re-orthonormalise what is independent
            C, U = orthonormalize(self.backend, C @ R, companion=combine(U_tilde))  # A M^-1 Ũ = C R
            if C.shape[1] == 0:
                return
            self.C, self.U = C, U
            return
        R_inverse = sla.solve_triangular(R, np.eye(R.shape[0]), check_finite=False)
        self.C = C
        self.U = combine([(block, coefficients @ R_inverse) for block, coefficients in U_tilde])
