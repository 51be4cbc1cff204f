"""The interface every PDE family implements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..grid import Grid
from ..schema import Key


@dataclass(frozen=True)
class Parameter:
    """A family parameter. ``kind`` is "field" (any distribution; scalars broadcast) or
    "scalar" (scalar distributions only). ``positive`` asks every draw to be > 0."""

    kind: str
    default: dict
    doc: str
    positive: bool = False


@dataclass
class LinearSystem:
    """``A x = b`` on ``grid``; ``A`` is CSR on the family's fixed pattern."""

    A: sp.csr_matrix
    b: np.ndarray
    symmetric: bool
    positive_definite: bool


class Family:
    """Base class: subclasses set the class attributes and implement ``assemble``."""

    name: str = ""
    doc: str = ""
    parameters: dict[str, Parameter] = {}
    boundary: dict[str, Key] = {}
    symmetric: bool = True
    positive_definite: bool = True
    # Parameters whose value changes the matrix (not only the right-hand side).
    operator_parameters: tuple[str, ...] = ()

    def check(self, recipe: dict) -> list[str]:
        """Family-specific cross-checks on a validated recipe; returns problems."""
        return []

    def operator_varies(self, recipe: dict) -> bool:
        """Whether the matrix changes from sample to sample under this recipe."""
        return any(recipe["parameters"][p]["dist"] != "constant" for p in self.operator_parameters)

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        raise NotImplementedError

    def assemble_rows(self, grid: Grid, values: dict, boundary: dict, first: int, last: int) -> LinearSystem:
        """Rows of the cells in slab [first, last) along axis 0 (global column indices).
        Families override this to assemble only those rows; this fallback slices the
        full system."""
        system = self.assemble(grid, values, boundary)
        stride = grid.size // grid.shape[0]
        rows = slice(first * stride, last * stride)
        return LinearSystem(system.A[rows], system.b[rows], system.symmetric, system.positive_definite)
