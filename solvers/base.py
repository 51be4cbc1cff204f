"""What GMRES and GCRO-DR share: backend choice, operator and preconditioner handling,
true-residual bookkeeping."""

from __future__ import annotations

import time

import numpy as np

from .info import SolveInfo


def make_backend(backend, preconditioner, options, comm):
    if not isinstance(backend, str):
        return backend
    if backend == "numpy":
        from .backends.numpy import NumpyBackend
        return NumpyBackend(preconditioner, options)
    if backend == "petsc":
        from .backends.petsc import PetscBackend
        return PetscBackend(preconditioner, options, comm)
    raise ValueError(f"backend must be 'numpy' or 'petsc'; got {backend!r}")


class SequenceSolver:
    """Base class: ``solve(A, b, x0=None, M=None)`` for a sequence of systems.

    Preconditioner reuse (``rebuild``): "never" builds it for the first operator and
    reuses it for the following ones; "always" rebuilds it for every system;
    "adaptive" reuses it until a solve needs more than ``growth`` times the iterations
    of the first solve after the last rebuild, then rebuilds for the next system.
    ``rebuild_preconditioner()`` or passing ``M`` rebuilds once. PETSc builds it on a
    private copy of the matrix, so reusing it after the matrix changed in place stays
    consistent.

    ``orthogonalization``: "cgs" (the default, as in PETSc's KSPGMRES and HPDDM) is one
    classical Gram-Schmidt pass per Arnoldi step; "cgs2" adds a second pass whenever the
    first cancelled more than half of the vector's squared norm (DGKS). In GCRO-DR that
    happens at most steps; the second pass took 20-36% of the time and changed iteration
    counts by under 1% on every sequence measured, except the SKR paper's far-from-normal
    matrix without a preconditioner (1.6-1.9% fewer); docs/benchmarks.md (iteration_cost,
    skr_table1). Convergence is judged on the true residual either way.
    """

    name = "krylov"

    def __init__(self, rtol=1e-8, maxiter=10000, backend="numpy", preconditioner="none",
                 options=None, comm=None, rebuild="never", growth=1.5, orthogonalization="cgs"):
        if not 0 < rtol < 1:
            raise ValueError(f"rtol must be in (0, 1); got {rtol}")
        if rebuild not in ("never", "always", "adaptive"):
            raise ValueError(f"rebuild must be 'never', 'always' or 'adaptive'; got {rebuild!r}")
        self.rtol, self.maxiter, self.rebuild, self.growth = rtol, int(maxiter), rebuild, float(growth)
        if orthogonalization not in ("cgs2", "cgs"):
            raise ValueError(f"orthogonalization must be 'cgs2' (reorthogonalise when needed) or 'cgs'; "
                             f"got {orthogonalization!r}")
        self.refine = orthogonalization == "cgs2"
        self.backend = make_backend(backend, preconditioner, options, comm)
        self._needs_pc = True
        self._baseline: int | None = None  # iterations of the first solve after a rebuild

    def rebuild_preconditioner(self) -> None:
        """Build the preconditioner afresh for the next system."""
        self._needs_pc = True

    def _prepare(self, A, b, x0, M, global_size=None):
        be = self.backend
        changed = be.set_operator(A, global_size) if _takes_size(be) else be.set_operator(A)
        rebuilt = False
        if M is not None or self._needs_pc or self.rebuild == "always":
            be.build_preconditioner(M)
            self._needs_pc, rebuilt = False, True
        b = be.local(b)
        x = np.zeros_like(b) if x0 is None else be.local(x0).copy()
        return b, x, changed, rebuilt

    def _info(self, b, x, iterations, start, reason, **extra) -> SolveInfo:
        if extra.get("rebuilt") or self._baseline is None:
            self._baseline = iterations
        elif self.rebuild == "adaptive" and iterations > self.growth * self._baseline + 2:
            self._needs_pc = True
        be = self.backend
        bnorm = be.norm(b)
        rnorm = be.norm(b - be.apply_A(x))
        residual = rnorm / bnorm if bnorm > 0 else rnorm
        return SolveInfo(iterations, float(residual), bool(np.isfinite(residual) and residual <= self.rtol),
                         time.perf_counter() - start, self.name, reason, extra)


def _takes_size(backend) -> bool:
    return getattr(backend, "distributed", False)
