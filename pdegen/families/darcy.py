"""Darcy flow: -∇·(a ∇u) = f on a box, in 1-3 dimensions, faces Dirichlet, Neumann or periodic.

Cell-centred finite volumes on the (2d+1)-point stencil. The flux through an interior
face uses the harmonic mean of the two cell coefficients, 2 a_P a_E / (a_P + a_E); a
boundary face sits half a cell from the centre, so it contributes 2 a_P / h² to the
diagonal and 2 a_P g / h² to the right-hand side on a Dirichlet face (u = g), g / h to
the right-hand side on a Neumann one (a ∂u/∂n = g); across a periodic axis the last and
first cells share a face like any other. Rows are divided by the cell volume,
so ``b = f`` in the interior. With at least one Dirichlet face the matrix is symmetric
positive definite; the scheme is second-order accurate for smooth a and u
(:mod:`pdegen.families.boundary` for the recipe's ``boundary`` section).

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
from . import boundary as faces
from . import fv
from .base import Family, LinearSystem, Parameter


def assemble_diffusion(grid: Grid, coefficient, forcing, boundary: float | dict = 0.0):
    """CSR matrix and right-hand side of -∇·(a∇u) = f with u = ``boundary`` on the whole
    boundary, or with ``boundary`` face by face as :func:`fv.assemble` takes it."""
    condition = boundary if isinstance(boundary, dict) else fv.Boundary("dirichlet", boundary)
    return fv.assemble(grid, forcing, diffusion=coefficient, boundary=condition)


class Darcy(Family):
    name = "darcy"
    pure_diffusion = True
    doc = "-div(a grad u) = f, Dirichlet, Neumann or periodic faces; cell-centred FV, harmonic-mean faces; SPD"
    parameters = {
        "coefficient": Parameter(
            "field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
            "permeability a(x) > 0", positive=True),
        "forcing": Parameter("field", {"dist": "constant", "value": 1.0}, "source f(x)"),
    }
    boundary = faces.KEYS
    operator_parameters = ("coefficient",)

    def check(self, recipe: dict) -> list[str]:
        if "dirichlet" not in faces.face_kinds(recipe["boundary"], len(recipe["grid"]["shape"])):
            return ["boundary: every face is neumann or periodic, so u is fixed only up to a constant and the "
                    "matrix is singular; make at least one face dirichlet (e.g. boundary.faces.y_low.kind=dirichlet)"]
        return []

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        A, b = assemble_diffusion(grid, values["coefficient"], values["forcing"],
                                  faces.conditions(boundary, grid.ndim))
        return LinearSystem(A, b, symmetric=True, positive_definite=True)

    def system_rows(self, grid: Grid, values: dict, recipe: dict, first: int, last: int) -> LinearSystem:
        """Only the rows of slab [first, last) along axis 0, assembled on that slab (with ghost
        layers from the other end where axis 0 is periodic; cut from the whole system where
        such a slab would overlap its own ghosts)."""
        conditions = faces.conditions(recipe["boundary"], grid.ndim)
        wrap = 0 in fv.periodic_axes(conditions, grid.ndim)
        if wrap and last - first + 2 > grid.shape[0]:
            return super().system_rows(grid, values, recipe, first, last)
        if wrap:  # the slab's own axis-0 faces bound its ghost layers only, whose rows are dropped
            conditions = {**conditions, (0, 0): fv.Boundary("dirichlet"), (0, 1): fv.Boundary("dirichlet")}
        a = np.broadcast_to(values["coefficient"], grid.shape)
        A, b = fv.rows_of(grid, lambda sub, piece: assemble_diffusion(
            sub, piece(a), piece(values["forcing"]), conditions), first, last, wrap=wrap)
        return LinearSystem(A, b, symmetric=True, positive_definite=True)
