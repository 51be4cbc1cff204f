"""Has a sparse matrix's nonzero pattern changed since the last one?

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
        self._frozen: tuple | None = None  # the arrays themselves, when both were read-only

    def remember(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        self._indptr, self._indices = indptr.copy(), indices.copy()
        self._frozen = (indptr, indices) if _read_only(indptr, indices) else None

    def same(self, indptr: np.ndarray, indices: np.ndarray) -> bool:
        if self._indptr is None:
            return False
        if self._frozen is not None and indptr is self._frozen[0] and indices is self._frozen[1] \
                and _read_only(indptr, indices):
            return True
        same = np.array_equal(self._indptr, indptr) and np.array_equal(self._indices, indices)
        if same and _read_only(indptr, indices):
            self._frozen = (indptr, indices)  # next time identity will do
        return same


def _read_only(*arrays: np.ndarray) -> bool:
    return not any(a.flags.writeable for a in arrays)
