"""Advection-diffusion: -ε Δu + v·∇u = f with a random divergence-free velocity.

v = (∂ψ/∂y, -∂ψ/∂x) from a random stream function ψ (a GRF), scaled so that the Péclet
number max|v| L / ε equals the sampled ``peclet`` (L the largest side). In conservative
form ∇·(v u) on cell faces: the face velocities come from ψ at the cell corners, so the
discrete divergence is exactly zero. Convection is first-order upwind (default, stable
at any cell Péclet number) or central (second order, oscillates when the cell Péclet
number exceeds 2). Faces Dirichlet, Neumann (an outflow face: ε ∂u/∂n = value, the fluid
leaving carries its cell's u out and any entering there carries none, u = 0), inflow
(Danckwerts: the fluid entering brings u = value, diffusion adds no flux there, and where
it leaves ∂u/∂n = 0; no boundary layer where the flow leaves, as a Dirichlet face forces),
or periodic axes (ψ wraps around too, so the flow crosses the wrap as any interior face).
Nonsymmetric: the planner solves it with GMRES and ILU-smoothed geometric multigrid up to
Péclet 1000, algebraic multigrid up to 10,000 and across ranks, a sparse LU or GCRO-DR
beyond (docs/families.md). 2-D only.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((32, 32), ((0, 1), (0, 1)))
>>> v = {"diffusivity": 0.01, "stream": np.zeros(g.shape), "peclet": 10.0, "forcing": 1.0}
>>> AdvectionDiffusion().assemble(g, v, {"kind": "dirichlet", "value": 0.0}).A.shape
(1024, 1024)
"""

from __future__ import annotations

import numpy as np

from ..grid import Grid
from ..schema import Key
from . import boundary as faces
from . import fv
from .base import Family, LinearSystem, Parameter


class AdvectionDiffusion(Family):
    name = "advection_diffusion"
    doc = "-eps lap u + v.grad u = f, v divergence-free from a random stream function; upwind FV; nonsymmetric"
    parameters = {
        "diffusivity": Parameter("scalar", {"dist": "constant", "value": 0.01}, "ε > 0", positive=True),
        "stream": Parameter("field", {"dist": "grf", "alpha": 3.5, "tau": 5.0, "transform": "none"},
                            "stream function ψ(x) (velocity = curl ψ)"),
        "peclet": Parameter("scalar", {"dist": "uniform", "low": 10.0, "high": 100.0},
                            "Péclet number max|v| L / ε", positive=True),
        "forcing": Parameter("field", {"dist": "constant", "value": 1.0}, "source f(x)"),
    }
    boundary = faces.keys("dirichlet", faces.FLOW_KINDS)
    discretization = {"convection": Key("str", "upwind", choices=("upwind", "central"))}
    symmetric = False
    positive_definite = False
    operator_parameters = ("diffusivity", "stream", "peclet")
    dimensions = (2,)

    def check(self, recipe: dict) -> list[str]:
        if not {"dirichlet", "inflow"} & set(faces.face_kinds(recipe["boundary"], 2)):
            return ["boundary: no face is dirichlet or inflow, so u may be fixed only up to a constant (a "
                    "divergence-free flow and diffusion both leave constants alone) and the matrix singular; keep "
                    "a dirichlet or an inflow face (e.g. boundary.faces.y_low.kind=dirichlet)"]
        return []

    def max_peclet(self, recipe: dict) -> float:
        spec = recipe["parameters"]["peclet"]
        bound = {"constant": "value", "uniform": "high", "loguniform": "high"}.get(spec["dist"])
        return float(spec[bound]) if bound else float("inf")

    def monotone(self, recipe: dict) -> bool:
        if recipe["discretization"]["convection"] == "upwind":
            return True
        grid = Grid(recipe["grid"]["shape"], recipe["grid"]["extent"])
        length = max(hi - lo for lo, hi in grid.extent)
        return self.max_peclet(recipe) * max(grid.spacing) / length <= 2.0  # the cell Péclet number

    def velocities(self, grid: Grid, values: dict, periodic: tuple[int, ...] = ()) -> list[np.ndarray]:
        raw = fv.stream_face_velocities(grid, np.broadcast_to(values["stream"], grid.shape), periodic=periodic)
        speed = max(np.abs(w).max() for w in raw)
        length = max(hi - lo for lo, hi in grid.extent)
        scale = values["peclet"] * values["diffusivity"] / length / speed if speed > 0 else 0.0
        return [scale * w for w in raw]

    def system(self, grid: Grid, values: dict, recipe: dict) -> LinearSystem:
        return self.assemble(grid, values, recipe["boundary"], recipe["discretization"]["convection"])

    def assemble(self, grid: Grid, values: dict, boundary: dict, scheme: str = "upwind") -> LinearSystem:
        conditions = faces.conditions(boundary, grid.ndim)
        A, b = fv.assemble(grid, values["forcing"], diffusion=values["diffusivity"],
                           face_velocity=self.velocities(grid, values, fv.periodic_axes(conditions, grid.ndim)),
                           scheme=scheme, boundary=conditions)
        return LinearSystem(A, b, symmetric=False, positive_definite=False)
