"""Geometric multigrid for cell-centred structured grids, as a PETSc PCMG.

The hierarchy halves every axis while all stay even and at least ``2 * coarsest``
cells long. Interpolation is the tensor product of 1-D cell-centred linear
interpolation (each fine cell takes 3/4 of its parent and 1/4 of the parent's
neighbour on its side; at a boundary only the 3/4). Coarse operators are Galerkin
products P^T A P recomputed by PETSc whenever the fine matrix changes, so any SPD
operator on the grid works (variable coefficients included) and nothing depends on the
PDE. Smoothing is one symmetric SOR sweep before and after (a symmetric V-cycle, so it
preconditions CG); the coarsest level is factorised. Everything stays overridable
through PETSc options under the solver's prefix (``mg_levels_pc_type``, ...).

Unknowns are numbered in C order over the grid shape (the last axis fastest), as
``numpy.ravel`` numbers them.

Example
-------
>>> import numpy as np, scipy.sparse as sp
>>> from solvers.ksp import KSPSolver
>>> T = sp.diags([-1, 2, -1], [-1, 0, 1], shape=(64, 64))
>>> A = (sp.kron(T, sp.eye(64)) + sp.kron(sp.eye(64), T)).tocsr()
>>> solver = KSPSolver("cg", "mg", rtol=1e-8, mg_interpolations=prolongations((64, 64)))
>>> x, info = solver.solve(A, np.ones(64 * 64))
>>> info.converged and info.iterations < 15
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# PCMG defaults for the hierarchy built here; recipe/user options override them.
DEFAULT_OPTIONS = {
    "pc_mg_galerkin": "both",
    "mg_levels_ksp_type": "richardson",
    "mg_levels_pc_type": "sor",
    "mg_levels_ksp_max_it": 1,
}


def interpolation_1d(coarse: int) -> sp.csr_matrix:
    """(2 coarse) x coarse linear interpolation between cell centres."""
    fine = np.arange(2 * coarse)
    parent = fine // 2
    side = np.where(fine % 2 == 0, -1, 1)  # even fine cells sit on the parent's left half
    neighbour = parent + side
    inside = (neighbour >= 0) & (neighbour < coarse)
    rows = np.concatenate([fine, fine[inside]])
    cols = np.concatenate([parent, neighbour[inside]])
    vals = np.concatenate([np.full(fine.size, 0.75), np.full(inside.sum(), 0.25)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(2 * coarse, coarse))


def level_shapes(shape, coarsest: int = 8) -> list[tuple[int, ...]]:
    """Grid shapes from the finest down, halving while every axis is even and >= 2 coarsest."""
    shapes = [tuple(int(n) for n in shape)]
    while all(n % 2 == 0 and n >= 2 * coarsest for n in shapes[-1]):
        shapes.append(tuple(n // 2 for n in shapes[-1]))
    return shapes


def prolongations(shape, coarsest: int = 8) -> list[sp.csr_matrix]:
    """Interpolation matrices, coarsest level first (PCMG's level order): entry l maps
    level l to level l + 1. Empty when the grid cannot be coarsened even once."""
    shapes = level_shapes(shape, coarsest)[::-1]
    out = []
    for coarse in shapes[:-1]:
        P = interpolation_1d(coarse[0])
        for n in coarse[1:]:
            P = sp.kron(P, interpolation_1d(n), format="csr")
        out.append(P.tocsr())
    return out


def configure(pc, interpolations, comm=None) -> None:
    """Make ``pc`` a Galerkin PCMG over ``interpolations`` (from :func:`prolongations`)."""
    from petsc4py import PETSc
    pc.setType("mg")
    pc.setMGLevels(len(interpolations) + 1)
    for level, P in enumerate(interpolations, start=1):
        P = P.tocsr()
        mat = PETSc.Mat().createAIJ(size=P.shape, comm=comm or PETSc.COMM_SELF,
                                    csr=(P.indptr.astype(PETSc.IntType), P.indices.astype(PETSc.IntType), P.data))
        mat.assemble()
        pc.setMGInterpolation(level, mat)
