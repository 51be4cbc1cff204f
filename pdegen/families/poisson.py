"""Poisson: -Δu = f on a box, u = g on the boundary.

f is a random field (GRF by default) and g a random Fourier series along the perimeter
(2-D) or a constant. The matrix is the same for every sample, so the planner factors it
once and each sample costs one forward/back substitution. Cell-centred FV, second order.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> s = Poisson().assemble(g, {"forcing": np.ones(g.shape), "boundary_data": 0.0}, {"kind": "dirichlet"})
>>> s.A.shape
(256, 256)
"""

from __future__ import annotations

import numpy as np

from ..fields import fourier_series
from ..grid import Grid
from ..schema import Key
from . import fv
from .base import Family, LinearSystem, Parameter


def boundary_function(grid: Grid, data):
    """Boundary values: a constant, or a Fourier series in the perimeter coordinate."""
    if np.ndim(data) == 0:
        return float(data)

    def g(axis, side, centres):
        return fourier_series(np.asarray(data), fv.perimeter_coordinate(grid, axis, side, centres))
    return g


class Poisson(Family):
    name = "poisson"
    pure_diffusion = True
    doc = "-Δu = f, u = g on the boundary (random source and boundary data); fixed operator"
    parameters = {
        "forcing": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"}, "source f(x)"),
        "boundary_data": Parameter("boundary", {"dist": "constant", "value": 0.0},
                                   "Dirichlet data g: constant, or fourier (2-D perimeter series)"),
    }
    boundary = {"kind": Key("str", "dirichlet", choices=("dirichlet",))}
    operator_parameters = ()

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        g = boundary_function(grid, values["boundary_data"])
        A, b = fv.assemble(grid, values["forcing"], diffusion=1.0, boundary=fv.Boundary("dirichlet", g))
        return LinearSystem(A, b, symmetric=True, positive_definite=True)
