"""Darcy flow: -∇·(a ∇u) = f on a box, Dirichlet boundary, in 1-3 dimensions.

Cell-centred finite volumes on the (2d+1)-point stencil. The flux through an interior
face uses the harmonic mean of the two cell coefficients, 2 a_P a_E / (a_P + a_E); a
boundary face sits half a cell from the centre, so it contributes 2 a_P / h² to the
diagonal and 2 a_P g / h² to the right-hand side. Rows are divided by the cell volume,
so ``b = f`` in the interior. The matrix is symmetric positive definite and the scheme
is second-order accurate for smooth a and u.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((32, 32), ((0, 1), (0, 1)))
>>> system = Darcy().assemble(g, {"coefficient": np.ones(g.shape), "forcing": 1.0}, {"value": 0.0})
>>> system.A.shape
(1024, 1024)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from ..grid import Grid, stencil_pattern
from ..schema import Key
from .base import Family, LinearSystem, Parameter


@lru_cache(maxsize=8)
def _pattern(grid: Grid):
    return stencil_pattern(grid)


def _axis_slice(ndim: int, axis: int, piece: slice) -> tuple:
    index = [slice(None)] * ndim
    index[axis] = piece
    return tuple(index)


def assemble_diffusion(grid: Grid, coefficient: np.ndarray, forcing, boundary_value: float = 0.0):
    """CSR matrix and right-hand side of -∇·(a∇u) = f with u = g on the boundary."""
    pattern = _pattern(grid)
    d, shape = grid.ndim, grid.shape
    a = np.broadcast_to(np.asarray(coefficient, dtype=np.float64), shape)
    slot_values = np.zeros((*shape, len(pattern.slots)))
    diagonal = np.zeros(shape)
    rhs = np.array(np.broadcast_to(np.asarray(forcing, dtype=np.float64), shape))
    for axis, h in enumerate(grid.spacing):
        lower = _axis_slice(d, axis, slice(0, -1))
        upper = _axis_slice(d, axis, slice(1, None))
        a_lo, a_hi = a[lower], a[upper]
        face = 2.0 * a_lo * a_hi / (a_lo + a_hi) / h**2
        slot_values[lower + (pattern.slot(axis, +1),)] = -face
        slot_values[upper + (pattern.slot(axis, -1),)] = -face
        diagonal[lower] += face
        diagonal[upper] += face
        for end in (slice(0, 1), slice(-1, None)):
            side = _axis_slice(d, axis, end)
            face = 2.0 * a[side] / h**2
            diagonal[side] += face
            rhs[side] += face * boundary_value
    slot_values[..., pattern.slot(-1, 0)] = diagonal
    data = pattern.compress(slot_values.reshape(grid.size, -1))
    A = sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=(grid.size, grid.size))
    return A, rhs.ravel()


class Darcy(Family):
    name = "darcy"
    doc = "-div(a grad u) = f, Dirichlet boundary; cell-centred FV, harmonic-mean faces; SPD"
    parameters = {
        "coefficient": Parameter(
            "field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
            "permeability a(x) > 0", positive=True),
        "forcing": Parameter("field", {"dist": "constant", "value": 1.0}, "source f(x)"),
    }
    boundary = {
        "kind": Key("str", "dirichlet", choices=("dirichlet",)),
        "value": Key("number", 0.0, doc="Dirichlet value g on the whole boundary"),
    }
    operator_parameters = ("coefficient",)

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        A, b = assemble_diffusion(grid, values["coefficient"], values["forcing"], boundary["value"])
        return LinearSystem(A, b, symmetric=True, positive_definite=True)

    def assemble_rows(self, grid: Grid, values: dict, boundary: dict, first: int, last: int) -> LinearSystem:
        """Only the rows of slab [first, last) along axis 0: assemble on the slab plus one
        ghost layer each side (whose own rows, cut off from the rest, are discarded)."""
        lo, hi = max(first - 1, 0), min(last + 1, grid.shape[0])
        h0, (x0, _) = grid.spacing[0], grid.extent[0]
        sub = Grid((hi - lo, *grid.shape[1:]), ((x0 + lo * h0, x0 + hi * h0), *grid.extent[1:]))
        piece = lambda v: v[lo:hi] if np.ndim(v) else v  # noqa: E731
        A, b = assemble_diffusion(sub, piece(np.broadcast_to(values["coefficient"], grid.shape)),
                                  piece(values["forcing"]) if np.ndim(values["forcing"]) else values["forcing"],
                                  boundary["value"])
        stride = grid.size // grid.shape[0]
        rows = slice((first - lo) * stride, (last - lo) * stride)
        local = A[rows]
        local = sp.csr_matrix((local.data, local.indices + lo * stride, local.indptr),
                              shape=(local.shape[0], grid.size))
        return LinearSystem(local, b[rows], symmetric=True, positive_definite=True)
