"""GCRO-DR as a PETSc KSP of type ``python``, reachable from the options database::

    -ksp_type python -ksp_python_type solvers.petsc.GCRODR
    -ksp_gcrodr_m 40 -ksp_gcrodr_k 20 -ksp_gcrodr_orthogonalization cgs   (or cgs2)
    -ksp_gcrodr_scale_guess false   (keep a nonzero initial guess as given, even if worse than zero)

The context keeps the recycle space between ``KSPSolve`` calls on the same KSP, uses the
KSP's operators and preconditioner and its tolerances (``rtol``, ``max_it``). It
preconditions on the right, with convergence on the true residual relative to ||b||,
unless ``-ksp_gcrodr_pc_side left`` asks for left preconditioning (convergence on the
preconditioned residual, as KSPHPDDM's default).

Example
-------
>>> from petsc4py import PETSc
>>> ksp = PETSc.KSP().create()                                  # doctest: +SKIP
>>> ksp.setType("python"); ksp.setPythonType("solvers.petsc.GCRODR")  # doctest: +SKIP
"""

from __future__ import annotations

from petsc4py import PETSc

from .backends.petsc import PetscBackend
from .gcrodr import GCRODR as _GCRODR


class GCRODR:
    """petsc4py KSP context implementing GCRO-DR(m, k)."""

    def __init__(self):
        self.m, self.k, self.orthogonalization, self.pc_side = 40, 20, "cgs", "right"
        self.scale_guess = True
        self.solver: _GCRODR | None = None

    def setFromOptions(self, ksp):
        options = PETSc.Options(ksp.getOptionsPrefix())
        self.m = options.getInt("ksp_gcrodr_m", self.m)
        self.k = options.getInt("ksp_gcrodr_k", self.k)
        self.orthogonalization = options.getString("ksp_gcrodr_orthogonalization", self.orthogonalization)
        self.pc_side = options.getString("ksp_gcrodr_pc_side", self.pc_side)
        self.scale_guess = options.getBool("ksp_gcrodr_scale_guess", self.scale_guess)
        self.solver = None

    def setUp(self, ksp):
        pass

    def reset(self, ksp):
        self.solver = None

    def view(self, ksp, viewer):
        viewer.printfASCII(f"  GCRO-DR(m={self.m}, k={self.k}), {self.pc_side} preconditioning, recycle space "
                           f"dimension {0 if self.solver is None else self.solver.recycle_dimension}\n")

    def solve(self, ksp, b, x):
        A, _ = ksp.getOperators()
        rtol, _, _, max_it = ksp.getTolerances()
        if self.solver is None or (self.solver.rtol, self.solver.maxiter) != (rtol, max_it):
            recycled = None if self.solver is None else (self.solver.U, self.solver.C)
            self.solver = _GCRODR(m=self.m, k=self.k, rtol=rtol, maxiter=max_it,
                                  orthogonalization=self.orthogonalization, pc_side=self.pc_side,
                                  scale_guess=self.scale_guess, backend=PetscBackend(comm=ksp.getComm()))
            if recycled is not None:
                self.solver.U, self.solver.C = recycled
        x0 = x.getArray(readonly=True) if ksp.getInitialGuessNonzero() else None
        result, info = self.solver.solve(A, b.getArray(readonly=True), x0=x0, M=ksp.getPC())
        x.getArray()[:] = result
        ksp.setIterationNumber(info.iterations)
        ksp.setResidualNorm(info.residual * b.norm())
        reason = PETSc.KSP.ConvergedReason
        ksp.setConvergedReason(reason.CONVERGED_RTOL if info.converged else reason.DIVERGED_ITS)
