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

import numpy as np

from ..grid import Grid
from ..schema import Key
from . import fv
from .base import Family, LinearSystem, Parameter


def assemble_diffusion(grid: Grid, coefficient, forcing, boundary_value: float = 0.0):
    """CSR matrix and right-hand side of -∇·(a∇u) = f with u = g on the boundary."""
    return fv.assemble(grid, forcing, diffusion=coefficient, boundary=fv.Boundary("dirichlet", boundary_value))


class Darcy(Family):
    name = "darcy"
    pure_diffusion = True
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

    def system_rows(self, grid: Grid, values: dict, recipe: dict, first: int, last: int) -> LinearSystem:
        """Only the rows of slab [first, last) along axis 0, assembled on that slab."""
        a = np.broadcast_to(values["coefficient"], grid.shape)
        A, b = fv.rows_of(grid, lambda sub, piece: assemble_diffusion(
            sub, piece(a), piece(values["forcing"]), recipe["boundary"]["value"]), first, last)
        return LinearSystem(A, b, symmetric=True, positive_definite=True)
