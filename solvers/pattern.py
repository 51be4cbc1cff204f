"""Has a sparse matrix's nonzero pattern (or, read-only, its values) changed since the last one?

Sequence solvers keep one PETSc Mat (or one multigrid plan) while the pattern holds, so
they ask this once per system. Comparing the index arrays costs as much as a sparse
matrix-vector product; when a generator hands over the very same *read-only* index
arrays every time (pdegen's cached stencil patterns do), identity answers it for free.
"""

from __future__ import annotations

import numpy as np


class PatternMemo:
    """Remembers the CSR pattern (indptr, indices) given to :meth:`remember`.

    Example
    -------
    >>> import numpy as np
    >>> indptr, indices = np.array([0, 1, 2]), np.array([0, 1])
    >>> memo = PatternMemo()
    >>> memo.remember(indptr, indices)
    >>> memo.same(indptr, indices), memo.same(indptr, np.array([1, 0]))
    (True, False)
    """

    def __init__(self):
        self._indptr = self._indices = None
        self._frozen: tuple | None = None  # where the arrays live, when both are immutable

    def remember(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        self._indptr, self._indices = indptr.copy(), indices.copy()
        self._frozen = immutable_place(indptr, indices)

    def same(self, indptr: np.ndarray, indices: np.ndarray) -> bool:
        if self._indptr is None:
            return False
        where = immutable_place(indptr, indices)
        if where is not None and self._frozen is not None and same_place(where, self._frozen):
            return True
        same = np.array_equal(self._indptr, indptr) and np.array_equal(self._indices, indices)
        if same and where is not None:
            self._frozen = where  # next time the address will do
        return same


def immutable_place(*arrays: np.ndarray) -> tuple | None:
    """For arrays nobody can write to, their owner and exact place in its memory; else None.

    An array is immutable when it and the array owning its memory are read-only: NumPy
    refuses writable views of a read-only owner. (SciPy wraps the index arrays it is given
    in new views, so identity of the arrays themselves does not survive a csr_matrix.)"""
    places = []
    for a in arrays:
        owner = a
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        if a.flags.writeable or owner.flags.writeable or owner.base is not None:
            return None
        places.append((owner, a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str))
    return tuple(places)


def same_place(a: tuple, b: tuple) -> bool:
    """Whether two :func:`immutable_place` answers are the same memory (so equal contents)."""
    return all(x[0] is y[0] and x[1:] == y[1:] for x, y in zip(a, b))


def same_matrix(a, b) -> bool:
    """Whether two sparse matrices in one compressed format (both CSR or both CSC) are the
    same matrix: shape, pattern and values compared in full."""
    return (getattr(a, "format", None) is not None and a.format == getattr(b, "format", None)
            and a.shape == b.shape and a.nnz == b.nnz and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))
