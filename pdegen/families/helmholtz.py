"""Helmholtz: -∇·(a ∇u) - k(x)² u = f, with k = ω / c(x), in a random medium.

a (default 1) and the wave speed c (default exp(GRF)) are random fields, ω a random
frequency, f a random source. Boundary: Dirichlet (u = 0) or first-order absorbing in
real arithmetic, the Robin condition a ∂u/∂n + k u = 0. Symmetric and, for ω² above
the first Dirichlet eigenvalue, indefinite: AMG- and ILU-preconditioned Krylov methods
stall there, so the planner uses a sparse LU (see the planner notes). Cell-centred FV,
second order.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((32, 32), ((0, 1), (0, 1)))
>>> v = {"coefficient": 1.0, "wavespeed": 1.0, "frequency": 20.0, "forcing": np.ones(g.shape)}
>>> Helmholtz().assemble(g, v, {"kind": "absorbing"}).A.shape
(1024, 1024)
"""

from __future__ import annotations

import numpy as np

from ..grid import Grid
from ..schema import Key
from . import fv
from .base import Family, LinearSystem, Parameter


class Helmholtz(Family):
    name = "helmholtz"
    doc = "-div(a grad u) - (omega/c)^2 u = f; Dirichlet or absorbing (Robin) boundary; symmetric indefinite"
    parameters = {
        "coefficient": Parameter("field", {"dist": "constant", "value": 1.0}, "diffusion a(x) > 0", positive=True),
        "wavespeed": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
                               "wave speed c(x) > 0", positive=True),
        "frequency": Parameter("scalar", {"dist": "uniform", "low": 20.0, "high": 30.0},
                               "angular frequency ω (k = ω/c)", positive=True),
        "forcing": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"}, "source f(x)"),
    }
    boundary = {"kind": Key("str", "absorbing", choices=("dirichlet", "absorbing"))}
    symmetric = True
    positive_definite = False
    operator_parameters = ("coefficient", "wavespeed", "frequency")

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        A, b = self._assemble(grid, values, boundary)
        return LinearSystem(A, b, symmetric=True, positive_definite=False)

    def _assemble(self, grid, values, boundary, piece=lambda v: v):
        k = values["frequency"] / np.broadcast_to(values["wavespeed"], grid.shape)
        if boundary["kind"] == "dirichlet":
            bc = fv.Boundary("dirichlet", 0.0)
        else:
            k_cells = k

            def beta(axis, side, centres):  # k in the boundary cells, at the face
                index = fv.axis_slice(grid.ndim, axis, slice(0, 1) if side == 0 else slice(-1, None))
                return k_cells[index]
            bc = fv.Boundary("robin", 0.0, beta)
        return fv.assemble(grid, values["forcing"], diffusion=values["coefficient"], reaction=-k**2, boundary=bc)
