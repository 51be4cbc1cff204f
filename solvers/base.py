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

    ``scale_guess``: a warm start x0 that is worse than a zero start (||b - A x0|| > ||b||)
    is first scaled by the alpha that minimises ||b - alpha A x0|| (:meth:`_initial_residual`;
    one reduction, no extra product with A), so no guess starts the method above ||b||. A
    neighbour's solution is often such a guess: ||b - A x_prev|| was 1.6-10 ||b|| (median) on
    four of pdegen's six recipes and 11.6 ||b|| on the SKR paper's sequence. A better guess
    is kept as it is: scaling it too lowers its residual but moves error into the smooth
    modes that restarted GMRES reduces slowest (Darcy, no preconditioner: 726 GMRES(40)
    iterations per system instead of 684). docs/benchmarks.md, warm_start.
    ``info.extra["guess_scale"]`` reports alpha (1.0 for a guess kept as it is).

    ``pc_side``: "right" (the default) preconditions on the right, A M^-1 (M x) = b, so
    the residual the method minimises and stops on is the true one. "left" runs the same
    method on M^-1 A x = M^-1 b (:class:`LeftPreconditioned`), as PETSc's KSPGMRES and
    KSPHPDDM do by default: it stops when ||M^-1 (b - A x)|| <= rtol ||M^-1 b||, and
    ``info.converged`` then reports that test (``info.residual`` is still the true one).
    """

    name = "krylov"

    def __init__(self, rtol=1e-8, maxiter=10000, backend="numpy", preconditioner="none",
                 options=None, comm=None, rebuild="never", growth=1.5, orthogonalization="cgs",
                 pc_side="right", scale_guess=True):
        if not 0 < rtol < 1:
            raise ValueError(f"rtol must be in (0, 1); got {rtol}")
        if rebuild not in ("never", "always", "adaptive"):
            raise ValueError(f"rebuild must be 'never', 'always' or 'adaptive'; got {rebuild!r}")
        self.rtol, self.maxiter, self.rebuild, self.growth = rtol, int(maxiter), rebuild, float(growth)
        if orthogonalization not in ("cgs2", "cgs"):
            raise ValueError(f"orthogonalization must be 'cgs2' (reorthogonalise when needed) or 'cgs'; "
                             f"got {orthogonalization!r}")
        self.refine = orthogonalization == "cgs2"
        if pc_side not in ("right", "left"):
            raise ValueError(f"pc_side must be 'right' (true-residual convergence) or 'left'; got {pc_side!r}")
        self.pc_side = pc_side
        self.scale_guess = bool(scale_guess)
        self._raw = make_backend(backend, preconditioner, options, comm)  # A and M themselves
        self.backend = self._raw if pc_side == "right" else LeftPreconditioned(self._raw)  # what the method sees
        self._rhs = None  # the current system's b (this rank's rows), for the true residual
        self._needs_pc = True
        self._baseline: int | None = None  # iterations of the first solve after a rebuild

    @property
    def unread_options(self) -> list[str]:
        """Preconditioner options (PETSc backend) that PETSc never read so far."""
        return list(getattr(self._raw, "unread_options", []))

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
        b = self._rhs = be.local(b)
        x = np.zeros_like(b) if x0 is None else be.local(x0).copy()
        if self.pc_side == "left":
            b = self._raw.apply_M(b)  # the method solves M^-1 A x = M^-1 b
        return b, x, changed, rebuilt

    def _initial_residual(self, b, x, warm: bool, stats: dict):
        """r = b - A x for the starting x, scaled in place when ``scale_guess`` and the guess is
        worse than zero: alpha = (b, A x) / (A x, A x) gives ||b - alpha A x||^2 = ||b||^2 -
        (b, A x)^2 / ||A x||^2 <= ||b||^2. The Gram matrix of [b, A x] (one reduction) gives
        ||b - A x|| and alpha together."""
        be = self.backend
        if not warm:
            return b.copy()
        Ax = be.apply_A(x)
        if self.scale_guess:
            both = np.column_stack((b, Ax))
            (b_b, b_Ax), (_, Ax_Ax) = be.dot(both, both)
            alpha = 1.0
            if b_b - 2.0 * b_Ax + Ax_Ax > b_b:  # ||b - A x||^2 > ||b||^2: worse than a zero start
                alpha = b_Ax / Ax_Ax if Ax_Ax > 0 and np.isfinite(b_Ax / Ax_Ax) else 0.0
                x *= alpha
                Ax *= alpha
            stats["guess_scale"] = float(alpha)
        return b - Ax

    def _info(self, x, iterations, start, reason, **extra) -> SolveInfo:
        if extra.get("rebuilt") or self._baseline is None:
            self._baseline = iterations
        elif self.rebuild == "adaptive" and iterations > self.growth * self._baseline + 2:
            self._needs_pc = True
        be, b = self._raw, self._rhs
        bnorm = be.norm(b)
        rnorm = be.norm(b - be.apply_A(x))
        residual = rnorm / bnorm if bnorm > 0 else rnorm
        met = residual <= self.rtol if self.pc_side == "right" else reason in ("converged", "zero right-hand side")
        return SolveInfo(iterations, float(residual), bool(np.isfinite(residual) and met),
                         time.perf_counter() - start, self.name, reason, extra)


class LeftPreconditioned:
    """A backend seen through left preconditioning: its operator is M^-1 A and it has no
    preconditioner of its own, so a right-preconditioned method run on it solves
    M^-1 A x = M^-1 b. Everything else (matrix, preconditioner set-up, inner products)
    is the wrapped backend's."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def apply_A(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.inner.apply_M(self.inner.apply_A(x), out=out)

    def apply_M(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return np.array(x, dtype=np.float64)
        out[...] = x
        return out


def _takes_size(backend) -> bool:
    return getattr(backend, "distributed", False)
