"""Heat equation: u_t = ∇·(a ∇u) + f, u(0) = u₀, u = g on the boundary.

Random coefficient a(x) and initial condition u₀ (GRFs), implicit time stepping with
backward Euler (first order) or Crank–Nicolson (second order) on ``steps`` equal steps up
to ``t_end``; the states every ``save_every`` steps are stored as a trajectory
(N, T, *grid), their times in ``coords/t``. Within a sample the matrix
(I/Δt + θ L) is fixed, so a factorisation or preconditioner is reused across steps and
each step warm-starts from the previous state. Cell-centred FV in space.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> recipe = {"boundary": {"value": 0.0}, "discretization": {"scheme": "crank-nicolson", "t_end": 0.1,
...           "steps": 10, "save_every": 5}}
>>> system, rhs = Heat().stepper(g, {"coefficient": 1.0, "initial": np.ones(g.shape), "forcing": 0.0}, recipe)
>>> rhs(np.ones(g.size)).shape
(256,)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..grid import Grid
from ..schema import Key
from . import fv
from .base import Family, LinearSystem, Parameter

THETA = {"backward-euler": 1.0, "crank-nicolson": 0.5}


class Heat(Family):
    name = "heat"
    doc = "u_t = div(a grad u) + f, backward Euler or Crank-Nicolson; trajectories (N, T, *grid)"
    parameters = {
        "coefficient": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
                                 "diffusivity a(x) > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial condition u0(x)"),
        "forcing": Parameter("field", {"dist": "constant", "value": 0.0}, "source f(x)"),
    }
    boundary = {"kind": Key("str", "dirichlet", choices=("dirichlet",)),
                "value": Key("number", 0.0, doc="u on the boundary")}
    discretization = {
        "scheme": Key("str", "crank-nicolson", choices=tuple(THETA)),
        "t_end": Key("number", 0.05, low=0.0, low_open=True, doc="final time"),
        "steps": Key("int", 20, low=1, doc="time steps to t_end"),
        "save_every": Key("int", 1, low=1, doc="store every this many steps"),
    }
    time_dependent = True
    operator_parameters = ("coefficient",)

    def check(self, recipe: dict) -> list[str]:
        d = recipe["discretization"]
        if d["steps"] % d["save_every"]:
            return [f"discretization.save_every: must divide discretization.steps ({d['steps']}), "
                    f"got {d['save_every']}"]
        return []

    def mass_shift(self, recipe: dict) -> float:
        """The step matrix is θL + I/Δt (L pure diffusion): c = 1/Δt."""
        d = recipe["discretization"]
        return d["steps"] / d["t_end"]

    def solves_per_sample(self, recipe: dict) -> int:
        return int(recipe["discretization"]["steps"])

    def output_times(self, recipe: dict):
        d = recipe["discretization"]
        dt = d["t_end"] / d["steps"]
        return dt * d["save_every"] * np.arange(1, d["steps"] // d["save_every"] + 1)

    def stepper(self, grid: Grid, values: dict, recipe: dict):
        """(system with the step matrix I/Δt + θL, rhs(u_n) -> right-hand side for u_{n+1})."""
        d = recipe["discretization"]
        dt, theta = d["t_end"] / d["steps"], THETA[d["scheme"]]
        L, b = fv.assemble(grid, values["forcing"], diffusion=values["coefficient"],
                           boundary=fv.Boundary("dirichlet", recipe["boundary"]["value"]))
        M = (theta * L + sp.identity(grid.size, format="csr") / dt).tocsr()
        M.sort_indices()
        explicit = (1.0 - theta) * L

        def rhs(u: np.ndarray) -> np.ndarray:
            return u / dt - explicit @ u + b

        return LinearSystem(M, None, symmetric=True, positive_definite=True), rhs

    def initial_state(self, grid: Grid, values: dict) -> np.ndarray:
        return np.array(np.broadcast_to(values["initial"], grid.shape), dtype=np.float64).ravel()
