"""Krylov solvers for sequences of linear systems, with subspace recycling.

Knows nothing of PDEs, recipes or stores. One calling convention for every solver::

    solver = GCRODR(m=40, k=20, rtol=1e-8, backend="numpy")   # keeps its recycle space
    for A, b in systems:
        x, info = solver.solve(A, b, x0=previous)
"""

from .info import SolveInfo

__all__ = ["GCRODR", "GMRES", "SolveInfo"]


def __getattr__(name):  # import the algorithms lazily: petsc4py is only needed on demand
    if name == "GCRODR":
        from .gcrodr import GCRODR
        return GCRODR
    if name == "GMRES":
        from .gmres import GMRES
        return GMRES
    raise AttributeError(name)
