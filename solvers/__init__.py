"""Krylov solvers for sequences of linear systems, with subspace recycling.

Knows nothing of PDEs, recipes or stores. One calling convention for every solver::

    solver = GCRODR(m=40, k=20, rtol=1e-8, backend="numpy")   # keeps its recycle space
    for A, b in systems:
        x, info = solver.solve(A, b, x0=previous)

Importing this package sets ``OPENBLAS_NUM_THREADS=1`` unless it is already set: the
parallel model is one MPI process per core, and OpenBLAS's own threads in PETSc's vector
kernels (dot products, axpys) made CG + multigrid at 128² 2.2x slower on two cores
(docs/benchmarks.md, blas_threads). It takes effect for a BLAS loaded afterwards, such as
the one petsc4py loads on first import; a value you set yourself is left alone.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
