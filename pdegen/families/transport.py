"""Transport: u_t + ∇·(v u) = ∇·(ε ∇u) + f, a scalar carried by a random divergence-free flow.

The velocity is advection–diffusion's (v = curl ψ from a random stream function, scaled so
that the Péclet number max|v| L / ε is the sampled ``peclet``), the initial state a GRF,
and the box periodic by default (faces as advection–diffusion's otherwise): a closed
domain whose total of u the scheme keeps exactly (the flow is divergence-free face by
face). Implicit time stepping as heat's (``scheme``,
``t_end``, ``steps``, ``save_every``), default Crank–Nicolson; trajectories (N, T, *grid).
Convection ``central`` (default; second order, and with a divergence-free flow its part of
the operator is skew-symmetric, so Crank–Nicolson neither damps nor amplifies it) or
``upwind`` (first order, adds numerical diffusion of about |v| h / 2). The step matrix
I/Δt + θA is nonsymmetric and fixed within a sample: one sparse LU per sample serves every
step (the planner's choice up to 1024²). 2-D only.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> recipe = {"boundary": {"kind": "periodic"}, "discretization": {"scheme": "crank-nicolson", "t_end": 0.5,
...           "steps": 8, "save_every": 8, "convection": "central"}}
>>> values = {"diffusivity": 0.01, "stream": np.zeros(g.shape), "peclet": 10.0, "initial": np.ones(g.shape),
...           "forcing": 0.0}
>>> system, rhs = Transport().stepper(g, values, recipe)
>>> system.symmetric, np.allclose(rhs(np.ones(g.size), 1), 16.0)
(False, True)
"""

from __future__ import annotations

from ..fields import typical_value
from ..grid import Grid
from ..schema import Key
from . import boundary as faces
from . import fv
from .advection import AdvectionDiffusion
from .base import NO_SOURCE, Parameter
from .heat import Heat, trajectory_keys


class Transport(Heat):
    name = "transport"
    doc = ("u_t + div(v u) = eps lap u + f, v a random divergence-free flow; periodic box by default; "
           "Crank-Nicolson; trajectories (N, T, *grid)")
    parameters = {
        "diffusivity": Parameter("scalar", {"dist": "constant", "value": 0.0025}, "ε > 0", positive=True),
        "stream": AdvectionDiffusion.parameters["stream"],
        "peclet": Parameter("scalar", {"dist": "uniform", "low": 50.0, "high": 200.0},
                            "Péclet number max|v| L / ε", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial state u0(x)"),
        "forcing": NO_SOURCE,
    }
    boundary = faces.keys("periodic", faces.FLOW_KINDS)  # Neumann and inflow faces as advection-diffusion's
    discretization = {**trajectory_keys("crank-nicolson", t_end=1.0, steps=64, save_every=4, graded_start=True),
                      "convection": Key("str", "central", choices=("central", "upwind"))}
    symmetric = False
    positive_definite = False
    operator_parameters = ("diffusivity", "stream", "peclet")
    dimensions = (2,)

    def diffusivity(self, recipe: dict) -> float:
        return typical_value(recipe["parameters"]["diffusivity"])

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(A, b): the advection–diffusion operator (heat's steps take it in place of L)."""
        conditions = faces.conditions(recipe["boundary"], grid.ndim)
        velocity = AdvectionDiffusion().velocities(grid, values, fv.periodic_axes(conditions, grid.ndim))
        return fv.assemble(grid, values["forcing"], diffusion=values["diffusivity"], face_velocity=velocity,
                           scheme=recipe["discretization"]["convection"], boundary=conditions)
