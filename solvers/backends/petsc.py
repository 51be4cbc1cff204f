"""PETSc backend: distributed matrices, vectors over local numpy blocks, block inner
products with one reduction, and any PETSc preconditioner by name and options.

Multivectors are ``(n_local, k)`` numpy arrays holding this rank's rows; a block inner
product ``V^T W`` is a local GEMM followed by one ``Allreduce`` on the matrix's
communicator, so an Arnoldi step with classical Gram-Schmidt costs one reduction.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from petsc4py import PETSc

from ..pattern import PatternMemo, immutable_place, same_place


class MatrixHolder:
    """One PETSc AIJ matrix reused across a sequence of CSR matrices.

    When a new CSR block has the same shape and sparsity pattern as the last one, its
    values are written into the existing Mat (the nonzero state stays the same, so
    PETSc reuses symbolic factorisations and preconditioner structure); otherwise a new
    Mat is created. ``csr`` holds this rank's rows with global column indices. The Mat
    is preallocated for COO assembly with exactly that pattern, so an update is one
    vectorised scatter of the values (4x faster than ``setValuesCSR`` at 128²). Immutable
    index arrays at the same place are recognised without comparing them
    (:mod:`solvers.pattern`); ``set_values`` skips the question for callers that know.

    ``position`` (one process only) renumbers the unknowns: row and column ``i`` of each
    CSR matrix become row and column ``position[i]`` of the Mat, at no cost per update
    (the COO coordinates are permuted once; the values keep their CSR order).
    """

    def __init__(self, comm=None, position: np.ndarray | None = None):
        self.comm = comm or PETSc.COMM_SELF
        if position is not None and self.comm.getSize() > 1:
            raise ValueError("MatrixHolder: renumbering (position) needs a one-process communicator")
        self.position = None if position is None else np.asarray(position, dtype=PETSc.IntType)
        self.mat: PETSc.Mat | None = None
        self._pattern: tuple | None = None
        self._data: np.ndarray | None = None  # the values in the Mat, to skip rewriting them
        self._data_place: tuple | None = None  # and where they came from, when nobody can change them
        self._memo = PatternMemo()

    def update(self, csr: sp.csr_matrix, global_size: int | None = None) -> PETSc.Mat:
        csr = csr.tocsr()
        indptr = csr.indptr.astype(PETSc.IntType, copy=False)
        indices = csr.indices.astype(PETSc.IntType, copy=False)
        data = csr.data.astype(PETSc.ScalarType, copy=False)
        n_local = csr.shape[0]
        n_global = global_size if global_size is not None else csr.shape[1]
        key = (n_local, n_global, indptr.size, indices.size)
        same = self.mat is not None and key == self._pattern and self._memo.same(indptr, indices)
        # Both branches are collective: every rank must take the same one.
        if _on_all_ranks(self.comm, same):
            return self.set_values(data)
        if self.mat is not None:
            self.mat.destroy()
        self.mat = coo_matrix(csr.shape[0], n_global, indptr, indices, data, self.comm, self.position)
        self._pattern, self._data, self._data_place = key, data.copy(), immutable_place(data)
        self._memo.remember(indptr, indices)
        return self.mat

    def set_values(self, data: np.ndarray) -> PETSc.Mat:
        """New values for the current Mat, in the CSR order of the pattern it was made
        with (the caller vouches that the pattern is unchanged). Collective."""
        if self.mat is None or np.shape(data) != self._data.shape:
            expected = "a Mat made by update() first" if self.mat is None else f"{self._data.size} values"
            raise ValueError(f"set_values needs {expected} (in the CSR order of the Mat's pattern); "
                             f"got shape {np.shape(data)}")
        data = np.asarray(data, dtype=PETSc.ScalarType)
        # Unchanged values keep factorisations valid. Read-only values where the last ones
        # were (a time step's matrix, handed over at every step) need no comparing.
        place = immutable_place(data)
        unchanged = (place is not None and self._data_place is not None and same_place(place, self._data_place)) \
            or _same_values(self._data, data)
        if not _on_all_ranks(self.comm, unchanged):
            self.mat.setValuesCOO(data, addv=PETSc.InsertMode.INSERT_VALUES)
            self.mat.assemble()
            self._data = data.copy()
        self._data_place = place
        return self.mat

    def destroy(self):
        if self.mat is not None:
            self.mat.destroy()
            self.mat = None


def _same_values(old: np.ndarray, new: np.ndarray) -> bool:
    """Exact equality, answered from the first entries when they already differ (a new
    sample's matrix): a full comparison costs as much as the update it could save."""
    head = min(old.size, 32)
    return old.shape == new.shape and np.array_equal(old[:head], new[:head]) and np.array_equal(old, new)


def _on_all_ranks(comm, flag) -> bool:
    """Whether ``flag`` holds on every rank of ``comm`` (the same answer everywhere)."""
    if comm.getSize() == 1:
        return bool(flag)
    from mpi4py import MPI
    return comm.tompi4py().allreduce(bool(flag), op=MPI.LAND)


def coo_matrix(n_local: int, n_global: int, indptr, indices, data, comm=None,
               position: np.ndarray | None = None) -> PETSc.Mat:
    """An assembled AIJ Mat (this rank's ``n_local`` rows, CSR with global columns),
    preallocated for ``setValuesCOO`` updates on the same pattern; with ``position``
    (serial), CSR row/column i is the Mat's row/column ``position[i]``."""
    comm = comm or PETSc.COMM_SELF
    mat = PETSc.Mat().create(comm=comm)
    mat.setSizes(((n_local, n_global), (n_local, n_global)))
    mat.setType(PETSc.Mat.Type.AIJ)
    # PETSc's default layout: ranks own consecutive row blocks in rank order.
    first = comm.tompi4py().exscan(n_local) if comm.getSize() > 1 else 0
    rows = (first or 0) + np.repeat(np.arange(n_local, dtype=PETSc.IntType), np.diff(indptr))
    cols = np.asarray(indices)
    if position is not None:
        rows, cols = position[rows], position[cols]
    # PETSc may reorder the index arrays it is given in place: hand it copies.
    mat.setPreallocationCOO(rows.astype(PETSc.IntType), np.array(cols, dtype=PETSc.IntType))
    mat.setValuesCOO(np.asarray(data, dtype=PETSc.ScalarType), addv=PETSc.InsertMode.INSERT_VALUES)
    mat.assemble()
    mat.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATION_ERR, True)
    return mat


@contextmanager
def options_scope(prefix: str, options: dict, read: set | None = None):
    """Put ``{name: value}`` into PETSc's options database under ``prefix`` while an
    object reads them (``setFromOptions``), then take them out again, so that one
    solver's options never leak into another's. Options given on the command line or in
    PETSC_OPTIONS are left alone and still apply.

    Taking them out also hides them from PETSc's own report of options nobody read
    (``-options_left``); ``read``, when given, collects the names PETSc did read (and
    those the command line had set), so the caller can tell which were never used."""
    db = PETSc.Options(prefix)
    # Exact names: PETSc's own lookup (hasName) also answers for a level option such as
    # mg_levels_1_pc_type when only mg_levels_pc_type is set, which would drop the former.
    present = PETSc.Options().getAll()
    inserted = []
    for name, value in (options or {}).items():
        name = name.lstrip("-")
        if f"{prefix}{name}" in present:
            if read is not None:
                read.add(name)
            continue
        db[name] = "" if value is None else ("true" if value is True else str(value))
        inserted.append(name)
    try:
        yield
    finally:
        for name in inserted:
            if read is not None and db.used(name):
                read.add(name)
            db.delValue(name)


def unread(options: dict, read: set) -> list[str]:
    """The names in ``options`` that PETSc never read (see :func:`options_scope`)."""
    return sorted(name.lstrip("-") for name in options if name.lstrip("-") not in read)


def reason_name(reason: int) -> str:
    """KSP converged reason as PETSc spells it (e.g. CONVERGED_RTOL)."""
    for name, value in vars(PETSc.KSP.ConvergedReason).items():
        if not name.startswith("_") and value == reason and name.isupper():
            return name
    return str(reason)


PC_TYPES = ("none", "jacobi", "sor", "ilu", "icc", "bjacobi", "asm", "gamg", "hypre", "lu", "cholesky")


class PetscBackend:
    """Matvecs with a PETSc Mat (AIJ, distributed over ``comm``), preconditioners by name
    with options under ``prefix`` (e.g. ``-recycle_pc_gamg_threshold``), block inner
    products as a local GEMM plus one ``Allreduce``.

    The preconditioner is set up on a private copy of the matrix: reusing it after the
    live matrix was updated in place then applies a consistent (older) operator, instead
    of mixing, say, GAMG's smoother eigenvalue estimates of one matrix with another.
    """

    name = "petsc"
    distributed = True

    def __init__(self, preconditioner="none", options: dict | None = None, comm=None, prefix: str = "recycle_"):
        self.comm = comm or PETSc.COMM_SELF
        self.mpi = self.comm.tompi4py() if self.comm.getSize() > 1 else None
        self.preconditioner = preconditioner
        self.prefix = prefix
        self.options = dict(options or {})
        self.options_read: set[str] = set()  # the options PETSc has read so far
        self.holder = MatrixHolder(self.comm)
        self.mat: PETSc.Mat | None = None
        self.pc: PETSc.PC | None = None
        self._pmat: PETSc.Mat | None = None
        self._state = None
        self._in = self._out = None

    def set_operator(self, A, global_size: int | None = None) -> bool:
        if isinstance(A, PETSc.Mat):
            mat = A
        else:
            mat = self.holder.update(A, global_size)
        state = (id(mat), mat.stateGet() if hasattr(mat, "stateGet") else None)
        changed = state != self._state or state[1] is None
        self._state = state
        if self.mat is None or mat.getSizes() != self.mat.getSizes():
            self._in, self._out = mat.createVecRight(), mat.createVecLeft()
        self.mat = mat
        return changed

    def build_preconditioner(self, spec=None) -> None:
        spec = self.preconditioner if spec is None else spec
        if isinstance(spec, PETSc.PC):
            self.pc = spec
            return
        if spec not in PC_TYPES:
            raise ValueError(f"PETSc preconditioner must be one of {', '.join(PC_TYPES)}; got {spec!r}")
        if self.pc is not None:
            self.pc.destroy()
        if self._pmat is not None:
            self._pmat.destroy()
        self._pmat = self.mat.copy()
        self.pc = PETSc.PC().create(comm=self.comm)
        self.pc.setOptionsPrefix(self.prefix)
        self.pc.setType(spec)
        self.pc.setOperators(self._pmat, self._pmat)
        with options_scope(self.prefix, self.options, self.options_read):  # sub-solvers read options in setUp
            self.pc.setFromOptions()
            self.pc.setUp()

    @property
    def unread_options(self) -> list[str]:
        """Options given to this backend that its preconditioner never read (so far)."""
        return unread(self.options, self.options_read)

    @property
    def has_preconditioner(self) -> bool:
        return self.pc is not None and self.pc.getType() != "none"

    def apply_A(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self._apply(self.mat.mult, x, out)

    def apply_M(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if not self.has_preconditioner:
            if out is None:
                return np.array(x, dtype=np.float64)
            out[...] = x
            return out
        return self._apply(self.pc.apply, x, out)

    def _apply(self, operation, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """y = op(x) with PETSc Vecs placed over the numpy arrays (no copies when ``out``
        is a contiguous float64 array, e.g. a column of a Fortran-ordered basis)."""
        result = out if out is not None and out.flags.c_contiguous and out.dtype == np.float64 \
            else np.empty(x.shape[0])
        self._in.placeArray(np.ascontiguousarray(x, dtype=np.float64))
        self._out.placeArray(result)
        try:
            operation(self._in, self._out)
        finally:
            self._in.resetArray()
            self._out.resetArray()
        if out is not None and result is not out:
            out[...] = result
            return out
        return result

    def dot(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        local = np.asarray(V.T @ W, dtype=np.float64)
        if self.mpi is not None:
            from mpi4py import MPI
            shape = local.shape
            buffer = np.array(local, ndmin=1, order="C")
            self.mpi.Allreduce(MPI.IN_PLACE, buffer)
            local = buffer.reshape(shape)
        return local

    def column_norms(self, V: np.ndarray) -> np.ndarray:
        squares = np.einsum("ij,ij->j", V, V)
        if self.mpi is not None:
            from mpi4py import MPI
            self.mpi.Allreduce(MPI.IN_PLACE, squares)
        return np.sqrt(squares)

    def norm(self, x: np.ndarray) -> float:
        return float(np.sqrt(max(float(self.dot(x, x)), 0.0)))

    def local(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(b, dtype=np.float64).ravel()
