"""PETSc backend: distributed matrices, vectors over local numpy blocks, block inner
products with one reduction, and any PETSc preconditioner by name and options.

Multivectors are ``(n_local, k)`` numpy arrays holding this rank's rows; a block inner
product ``V^T W`` is a local GEMM followed by one ``Allreduce`` on the matrix's
communicator, so an Arnoldi step with classical Gram-Schmidt costs one reduction.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from petsc4py import PETSc


class MatrixHolder:
    """One PETSc AIJ matrix reused across a sequence of CSR matrices.

    When a new CSR block has the same shape and sparsity pattern as the last one, its
    values are written into the existing Mat (the nonzero state stays the same, so
    PETSc reuses symbolic factorisations and preconditioner structure); otherwise a new
    Mat is created. ``csr`` holds this rank's rows with global column indices.
    """

    def __init__(self, comm=None):
        self.comm = comm or PETSc.COMM_SELF
        self.mat: PETSc.Mat | None = None
        self._pattern: tuple | None = None

    def update(self, csr: sp.csr_matrix, global_size: int | None = None) -> PETSc.Mat:
        csr = csr.tocsr()
        indptr = csr.indptr.astype(PETSc.IntType, copy=False)
        indices = csr.indices.astype(PETSc.IntType, copy=False)
        data = csr.data.astype(PETSc.ScalarType, copy=False)
        n_local = csr.shape[0]
        n_global = global_size if global_size is not None else csr.shape[1]
        key = (n_local, n_global, indptr.size, indices.size)
        if self.mat is not None and key == self._pattern and np.array_equal(self._indices, indices) \
                and np.array_equal(self._indptr, indptr):
            self.mat.setValuesCSR(indptr, indices, data)
            self.mat.assemble()
            return self.mat
        if self.mat is not None:
            self.mat.destroy()
        self.mat = PETSc.Mat().createAIJ(size=((n_local, n_global), (n_local, n_global)),
                                         csr=(indptr, indices, data), comm=self.comm)
        self.mat.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATION_ERR, True)
        self.mat.assemble()
        self._pattern, self._indptr, self._indices = key, indptr.copy(), indices.copy()
        return self.mat

    def destroy(self):
        if self.mat is not None:
            self.mat.destroy()
            self.mat = None


def set_options(prefix: str, options: dict) -> None:
    """Put ``{name: value}`` into PETSc's options database under ``prefix``."""
    db = PETSc.Options(prefix)
    for name, value in options.items():
        name = name.lstrip("-")
        if value is None or value is True:
            db[name] = "" if value is None else "true"
        else:
            db[name] = str(value)
