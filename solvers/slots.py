"""One solver per matrix, for a sequence that comes back to earlier matrices.

A direct solver keeps one factorisation and refactors when the matrix changes. A time
step with a graded start (pdegen's ``start_refinement``) hands over a few step matrices in
turn, one per Δt, the same ones for every sample, and refactoring PETSc's Cholesky costs
19 solves at 128², 24 at 256² (docs/benchmarks.md, graded_start): a 128²
diffusion–reaction build with k = 2 took 1.10x the time of uniform steps refactoring,
1.01x keeping the factorisations, for 1.05x the solves.
:class:`MatrixSlots` keeps up to ``keep`` solvers, each with its own matrix and
factorisation, and hands each system to the one that holds its matrix (the same object, or
equal values: the next sample's matrices are new objects), the least recently used making
way for a new matrix.

Example
-------
>>> import numpy as np, scipy.sparse as sp
>>> from solvers.direct import ScipyDirect
>>> slots = MatrixSlots(ScipyDirect, keep=2)
>>> A = [sp.diags([-1.0, c, -1.0], [-1, 0, 1], shape=(20, 20), format="csr") for c in (3.0, 5.0)]
>>> [slots.solve(A[i], np.ones(20))[1].reason for i in (0, 1, 0, 1)]
['factorised', 'factorised', 'reused factorisation', 'reused factorisation']
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .pattern import same_matrix


class MatrixSlots:
    """``solve(A, b, x0=None, global_size=None)`` by one of up to ``keep`` solvers made by
    ``make()``, the one whose last matrix equals A. Serial (one process per system):
    which slot a system goes to is decided on this process alone."""

    def __init__(self, make: Callable[[], object], keep: int):
        if keep < 1:
            raise ValueError(f"MatrixSlots: keep must be >= 1, got {keep}")
        self.make, self.keep = make, keep
        self._slots: list[list] = [[None, make()]]  # [matrix, solver], the most recent last

    def solve(self, A, b: np.ndarray, x0: np.ndarray | None = None, global_size: int | None = None):
        # The same object first (every step but an interval's first), then equal values.
        index = next((i for i, slot in enumerate(self._slots) if slot[0] is A), None)
        if index is None:
            index = next((i for i, slot in enumerate(self._slots) if slot[0] is not None
                          and same_matrix(slot[0], A)), None)
        if index is None:
            index = next((i for i, slot in enumerate(self._slots) if slot[0] is None), None)
            if index is None:
                if len(self._slots) < self.keep:
                    self._slots.append([None, self.make()])
                    index = len(self._slots) - 1
                else:
                    index = 0  # the least recently used: its solver takes the new matrix
        slot = self._slots.pop(index)
        slot[0] = A  # the object itself: the next system with it is found by identity
        self._slots.append(slot)
        return slot[1].solve(A, b, x0=x0, global_size=global_size)

    def __getattr__(self, name: str):
        """The solvers' shared attributes (``method``, ``unread_options``): the latest one's."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._slots[-1][1], name)
